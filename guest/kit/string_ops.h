/* Freestanding memory and string functions (the ones gcc may also call on its own). */
#pragma once

#include <stddef.h>

void* memcpy(void* dst, const void* src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, size_t n);
/// First occurrence of needle in haystack, or NULL.
const char* strstr(const char* haystack, const char* needle);
