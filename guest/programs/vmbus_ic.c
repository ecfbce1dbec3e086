/* vmbus_ic: a partition's integration services as Linux's hv_utils runs them
 * (spec/hyperv-interfaces.md §9; tests/test_vmbus_ic.py). Connects to the VMBus server,
 * opens the heartbeat, shutdown and time sync channels, then answers the host's messages
 * until it asks for a shutdown: then prints a summary and ends through the debug-exit port
 * with VMBUS_IC_EXIT_SHUTDOWN (0x33). Arguments:
 *   hostile=1  the heartbeat VSC misbehaves once (a wrong echo and a short packet)
 *   max_hlt=N  give up (exit 1) after N wake-ups without a shutdown (default: never) */
#include "kit/vmbus_ic.h"
#include "kit/kit.h"
#include "kit/vmbus.h"

#define VMBUS_IC_EXIT_SHUTDOWN 0x33

static uint8_t rings[3][2 * VMBUS_IC_RING_PAGES * 4096] __attribute__((aligned(4096)));
static struct vmbus vb;
static struct vmbus_ic ics[3];

static const uint32_t kVersions[] = {
    VMBUS_VERSION_WIN10_V6_0, VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2,
    VMBUS_VERSION_WIN10_V5_1, VMBUS_VERSION_WIN10_V5,   VMBUS_VERSION_WIN10_V4_1,
    VMBUS_VERSION_WIN10,      VMBUS_VERSION_WIN8_1,     VMBUS_VERSION_WIN8};

int kmain(uint32_t magic, uint32_t mbi) {
  (void)magic;
  const char* cmd = mb_cmdline(mb_info(mbi));
  bool hostile = cmdline_u64(cmd, "hostile", 0) != 0;
  uint64_t max_hlt = cmdline_u64(cmd, "max_hlt", 0);
  vmbus_synic_init();
  if (!check(vmbus_connect(&vb, kVersions, sizeof kVersions / sizeof kVersions[0]) == 0,
             "connected"))
    return check_summary("vmbus_ic");
  int n = vmbus_request_offers(&vb);
  check(n >= 3, "%d offers", n);
  for (int k = 0; k < 3; ++k) {
    ics[k].hostile = hostile && k == VMBUS_IC_HEARTBEAT;
    if (!check(vmbus_ic_open(&vb, &ics[k], (enum vmbus_ic_kind)k, rings[k]) == 0, "%s channel open",
               vmbus_ic_name((enum vmbus_ic_kind)k)))
      return check_summary("vmbus_ic");
    printf("vmbus_ic: %s open, relid %u\n", vmbus_ic_name((enum vmbus_ic_kind)k), ics[k].relid);
  }
  uint64_t wakeups = 0;
  while (!vmbus_ic_shutdown_requested) {
    bool any = false;
    for (int k = 0; k < 3; ++k)
      if (vmbus_take_event(ics[k].relid)) any = true;
    /* Why service every channel: a take above may have raced with a later signal; reading
     * an empty ring costs little. */
    for (int k = 0; k < 3; ++k) vmbus_ic_service(&ics[k]);
    if (vmbus_ic_shutdown_requested) break;
    if (!any) {
      __asm__ volatile("sti; hlt; cli" ::: "memory");
      if (max_hlt && ++wakeups > max_hlt) {
        printf("vmbus_ic: no shutdown after %lu wake-ups\n", (unsigned long)wakeups);
        exit(1);
      }
    }
  }
  printf("vmbus_ic: shutdown requested (flags %u); heartbeats %u, time samples %u, clock %lu s\n",
         vmbus_ic_shutdown_flags, ics[VMBUS_IC_HEARTBEAT].requests, vmbus_ic_samples,
         (unsigned long)(vmbus_ic_clock_100ns / 10000000));
  for (int k = 0; k < 3; ++k)
    if (ics[k].bad || ics[k].ring_errors)
      printf("vmbus_ic: %s: %u bad packets, %u ring errors\n", vmbus_ic_name((enum vmbus_ic_kind)k),
             ics[k].bad, ics[k].ring_errors);
  exit(VMBUS_IC_EXIT_SHUTDOWN);
}
