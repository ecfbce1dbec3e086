/* placeholder */
#include "kit/kit.h"
int kmain(uint32_t magic, uint32_t mbi) { return 0; }
