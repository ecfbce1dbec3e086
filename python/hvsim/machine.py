"""The Python face of a simulated machine: build it, load a kernel, run, inspect, save."""

import json
import os

from ._native import native

InputError = native.InputError


class Stop:
    """Why `Machine.run` returned.

    kind: "debug_exit" (the guest wrote `exit_value` to port 0xF4), "triple_fault"
    (processor `cpu` shut down at `rip`; `message` says why), "halted" (every processor
    halted for good), "instruction_limit", "time_limit", "interrupted" (Ctrl-C) or "reset"
    (hypervisor mode: a partition wrote HV_X64_MSR_RESET; `message` names it).
    exit_status: what `hvsim run` exits with: (exit_value << 1) | 1 for a debug exit; 0 for a
    limit; 4 triple fault (or a partition crash); 6 halted; 8 reset; 130 interrupted.
    """

    def __init__(self, native_reason):
        self.kind = native_reason.kind
        self.exit_value = native_reason.exit_value
        self.cpu = native_reason.cpu
        self.rip = native_reason.rip
        self.message = native_reason.message
        self.exit_status = native_reason.exit_status

    def __eq__(self, other):
        return isinstance(other, Stop) and vars(self) == vars(other)

    def __repr__(self):
        if self.kind == "debug_exit":
            return "Stop(debug_exit, value=%d)" % self.exit_value
        if self.kind == "triple_fault":
            return "Stop(triple_fault, cpu=%d, rip=%#x: %s)" % (self.cpu, self.rip, self.message)
        if self.kind in ("halted", "reset"):
            return "Stop(%s: %s)" % (self.kind, self.message)
        return "Stop(%s)" % self.kind


def _size(value, what):
    if isinstance(value, int):
        return value
    return native.parse_size(str(value), what)


def _epoch(value):
    """Seconds since 1970 (int) or an ISO 8601 date/time in UTC -> seconds since 1970."""
    if isinstance(value, int):
        return value
    import datetime
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("bad rtc_start '%s': expected seconds since 1970 or an ISO date such "
                         "as 2024-01-01T00:00:00" % text) from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp())


def _cycles(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError("timing: entry '%s' must be a non-negative integer of cycles, not %r"
                         % (name, value))
    return value


def timing_entries():
    """The cycle-cost table: a list of (name, default cycles, description)."""
    return list(native.timing_entries())


def _duration_ps(value):
    """None -> no limit; int -> nanoseconds; str -> '10ms', '5us', ..."""
    if value is None:
        return (1 << 64) - 1
    if isinstance(value, int):
        return native.parse_duration(str(value), "until")
    return native.parse_duration(str(value), "until")


class Machine:
    """A simulated x86-64 computer, in bare-metal mode or in hypervisor mode.

    Machine(cpus=1, memory="256M", seed=0, rtc_start=None): `cpus` processors (processor 0
    boots, the others wait for INIT/SIPI), `memory` bytes of RAM from address 0 (an int or a
    size such as "256M"), `seed` for the machine's random number generator, `rtc_start` the
    wall-clock time the CMOS RTC shows at simulated time 0 (seconds since 1970 UTC, or an
    ISO date "2024-01-01T00:00:00"; default 2024-01-01 00:00:00, never the host clock).
    Devices: a 16550 UART on COM1 (0x3F8), the debug-exit port 0xF4, firmware configuration
    (0x510/0x511), the 8259 PIC pair, an IOAPIC (0xFEC00000), the 8254 PIT, the CMOS RTC
    (0x70/0x71), the ACPI PM timer (port 0x608) and a local APIC per processor. Runs are
    deterministic: the same kernel and inputs give the same state.
    `timing` overrides entries of the cycle-cost table by name, e.g. {"divide": 30}
    (`hvsim.timing_entries()` lists them with their defaults; see cpu/timing.h).
    `mode="hyperv"`: hvsim's hypervisor (hv/) owns every processor and `load_kernel` boots
    the kernel in a child partition "child" of `partition_memory` bytes (default half of
    RAM) with one virtual processor per processor; its port I/O and device MMIO go to the
    devices above through VM exits. More partitions: `create_partition`; their VPs share the
    processors in turns. `hyperv_testdev=True` adds the Hyper-V test device at port 0x3000
    (QEMU's hyperv-testdev: SINT routes, message and event connections driven from inside
    the partition). No checkpoints in this mode yet (docs/hv.md).
    """

    def __init__(self, cpus=1, memory="256M", seed=0, cpu_freq_hz=2_000_000_000, rtc_start=None,
                 timing=None, mode="bare-metal", partition_memory=None, hyperv_testdev=False,
                 _native=None):
        if _native is not None:
            self._m = _native
        else:
            p = native.MachineParams()
            p.cpus = int(cpus)
            p.memory = _size(memory, "memory size")
            p.seed = int(seed)
            p.cpu_freq_hz = int(cpu_freq_hz)
            if rtc_start is not None:
                p.rtc_start = _epoch(rtc_start)
            if mode not in ("bare-metal", "hyperv"):
                raise InputError("bad mode '%s': expected 'bare-metal' or 'hyperv'" % mode)
            p.hyperv = mode == "hyperv"
            if partition_memory is not None:
                p.partition_memory = _size(partition_memory, "partition memory size")
            p.hyperv_testdev = bool(hyperv_testdev)
            for name, cycles in (timing or {}).items():
                p.set_timing(str(name), _cycles(name, cycles))
            self._m = native.Machine(p)
        self._serial_callbacks = []

    # -- loading ---------------------------------------------------------------------------
    def load_kernel(self, path, cmdline="", modules=()):
        """Loads a Multiboot v1 kernel (ELF32 or ELF64) or a plain ELF64 kernel.

        The Multiboot command line is the kernel's file name, a space and `cmdline` (as other
        simulators pass it); each path in `modules` becomes one Multiboot module. Returns a
        dict describing the entry (entry mode, entry point, info structure address).
        Raises InputError naming the file and the problem for bad input.
        """
        name = os.path.basename(str(path))
        full = name + (" " + cmdline if cmdline else "")
        return self._m.load_kernel(str(path), full, [str(m) for m in modules])

    # -- partitions (hypervisor mode) ----------------------------------------------------------
    def create_partition(self, name, vcpus=1, memory="16M", kernel=None, cmdline="", modules=(),
                         parent=None, root=False):
        """Creates a child partition `name` with `vcpus` virtual processors and `memory` bytes
        of memory at guest-physical address 0 (an int or a size such as "16M"); with `kernel`,
        loads it there (as load_kernel does) and starts VP 0 at its entry, the others waiting
        for a start-up IPI. `parent` (a Partition or name; None: the host) places it in the
        partition tree; `root=True` gives it the root privileges (CreatePartitions ...) with
        which its kernel may issue the root hypercalls (docs/hv.md "Partition tree and root
        calls"). Returns a `Partition`. Raises InputError in bare-metal mode, for a
        taken name, memory that does not fit, or a bad kernel (then nothing is created)."""
        parent_id = 0
        if parent is not None:
            parent_id = self.partition(getattr(parent, "name", parent)).id
        full = None
        if kernel is not None:
            name_part = os.path.basename(str(kernel))
            full = name_part + (" " + cmdline if cmdline else "")
        self._m.create_partition(str(name), int(vcpus), _size(memory, "partition memory size"),
                                 None if kernel is None else str(kernel), full or "",
                                 [str(m) for m in modules], parent_id, bool(root))
        return Partition(self, str(name))

    def delete_partition(self, partition):
        """Deletes a partition (a Partition or name) and its subtree; every page returns to the
        hypervisor's free pool. InputError while one of its VPs is inside a VM entry."""
        self._m.hv_delete_partition(str(getattr(partition, "name", partition)))

    def partitions(self):
        """The partitions, in creation order, as `Partition` objects ([] in bare-metal mode)."""
        tree = self.inspect().get("hypervisor", {}).get("partitions", {})
        ordered = sorted(tree.items(), key=lambda kv: kv[1]["id"])
        return [Partition(self, name) for name, _ in ordered]

    def partition(self, name):
        """The partition `name` (InputError if there is none)."""
        for p in self.partitions():
            if p.name == name:
                return p
        raise InputError("no partition named '%s'" % name)

    def on_exit(self, callback):
        """Hypervisor mode: calls `callback(event)` after every VM exit is handled; event is a
        dict with partition, vp, reason (e.g. "CPUID"), qualification, guest_physical_address
        and rip. `callback=None` removes it. An exception in the callback ends the run and
        is raised from run()."""
        self._m.set_exit_observer(callback)

    def on_hypercall(self, callback):
        """Hypervisor mode: calls `callback(event)` after every hypercall; event is a dict with
        partition, vp, code, call (its TLFS name), fast, input, status (its TLFS name) and
        result. `callback=None` removes it."""
        self._m.set_hypercall_observer(callback)

    # -- VMBus (mode="hyperv"; docs/vmbus.md) -----------------------------------------------
    def enable_vmbus(self, partition="child", versions=None, integration_services=False,
                     ic_period="100ms", monitor_latency=None):
        """Gives partition `partition` a VMBus server of the root's stack, bound to its
        connections 1 and 4. `versions`: the version words it accepts (default: Win8 up to
        5.3; 6.0 = 0x60000 only if listed); others get version_supported = 0.
        `monitor_latency`: how often the monitor page of monitored channels is polled
        (default 50us; docs/vmbus.md "Monitored channels").
        `integration_services`: also offer heartbeat, shutdown and time sync (relids 1, 2, 3)
        and run their VSPs; a heartbeat and a time sample every `ic_period` of simulated time
        (docs/vmbus.md "Integration services")."""
        self._m.vmbus_enable(str(partition), [int(v) for v in (versions or [])],
                             _duration_ps(monitor_latency) if monitor_latency else 0)
        if integration_services:
            self._m.vmbus_enable_ic(str(partition), _duration_ps(ic_period))

    def request_shutdown(self, partition="child", flags=0, reason=0):
        """Asks the partition's shutdown IC to shut the guest down (flags: 1 force, 2
        restart, 4 hibernate); False if its channel is not open and negotiated yet."""
        return self._m.vmbus_shutdown(str(partition), int(flags), int(reason))

    def sync_time(self, partition="child"):
        """Sends the partition's time sync IC a SYNC sample now (the guest sets its clock at
        once, as Hyper-V does after a restore); False if its channel is not ready."""
        return self._m.vmbus_sync_time(str(partition))

    def integration_services(self, partition="child"):
        """The integration services' inspect subtree (heartbeat, shutdown, timesync), or
        None."""
        return (self.vmbus(partition) or {}).get("ic")

    def add_vmbus_offer(self, interface_type, instance, partition="child", name="", flags=0,
                        monitored=False):
        """Offers a channel (interface type and instance GUIDs as text) to the partition's
        guest; returns its relid. Sent at once if the guest asked for offers already.
        `monitored`: the guest signals it through the monitor page, which the host polls
        (falls back to a plain offer if the guest gave no monitor pages)."""
        return self._m.vmbus_add_offer(str(partition), str(interface_type), str(instance),
                                       str(name), int(flags), bool(monitored))

    def add_vmbus_echo(self, partition="child"):
        """Offers an echo channel (hvsim's own test device, not a Hyper-V device;
        docs/vmbus.md "Echo VSP") to the partition's guest and runs its VSP: every in-band
        packet that requests a completion is answered with a completion carrying the same
        transaction id and payload. Returns its relid; its counters are in
        vmbus(partition)["channels"][str(relid)]["echo"]."""
        return self._m.vmbus_add_echo(str(partition))

    def rescind_vmbus_offer(self, relid, partition="child"):
        """Rescinds a channel (RescindChannelOffer; it goes when the guest releases it)."""
        self._m.vmbus_rescind(str(partition), int(relid))

    def signal_vmbus_channel(self, relid, partition="child"):
        """Host -> guest interrupt of an open channel; False if it is not open."""
        return self._m.vmbus_signal(str(partition), int(relid))

    def vmbus(self, partition="child"):
        """The VMBus server's inspect subtree (state, counters, channels, GPADLs), or None.
        Each channel shows its two rings ("outbound" guest->host, "inbound" host->guest:
        indices, occupancy, the host end's counters; docs/vmbus.md "Per-channel stats")."""
        return self.inspect().get("vmbus", {}).get(str(partition))

    # -- running ---------------------------------------------------------------------------
    def run(self, max_instructions=None, until=None):
        """Runs until the guest or a limit stops it; returns a `Stop`.

        max_instructions: stop after this many more instructions (summed over processors).
        until: stop when simulated time reaches this point ("10ms", "5us", or ns as an int).
        """
        limit = (1 << 64) - 1 if max_instructions is None else int(max_instructions)
        if limit < 0:
            raise ValueError("max_instructions must be >= 0")
        return Stop(self._m.run(limit, _duration_ps(until)))

    # -- hypervisor host API (mode="hyperv"; docs/hv.md "Ports and connections") -----------
    def create_port(self, port_id, kind, partition="child", vp=0, sint=2, base_flag=0,
                    flag_count=1):
        """Creates a SynIC port owned by `partition`, aimed at its VP `vp` and SINT `sint`:
        kind "message" (HvPostMessage lands in SINTx's message slot) or "event"
        (HvSignalEvent sets flag base_flag + FlagNumber of SINTx, FlagNumber < flag_count).
        Port ids are 1..0xFFFFFF and unique machine-wide."""
        self._m.hv_create_port(int(port_id), str(kind), str(partition), int(vp), int(sint),
                               int(base_flag), int(flag_count))

    def delete_port(self, port_id):
        """Deletes a port; connections to it stay and answer HV_STATUS_INVALID_PORT_ID."""
        self._m.hv_delete_port(int(port_id))

    def connect(self, connection_id, port_id, partition="child"):
        """Connection `connection_id` of `partition` (its HvPostMessage / HvSignalEvent
        ConnectionId) to port `port_id`."""
        self._m.hv_connect(str(partition), int(connection_id), int(port_id))

    def post_message(self, message_type, payload=b"", partition="child", vp=0, sint=2,
                     sender=0):
        """Posts a message straight to SINTx of a VP (the hypervisor's own path); returns the
        TLFS status name, e.g. "HV_STATUS_SUCCESS" or "HV_STATUS_INVALID_SYNIC_STATE"."""
        return self._m.hv_post_message(str(partition), int(vp), int(sint), int(message_type),
                                       bytes(payload), int(sender))

    def signal_event(self, flag, partition="child", vp=0, sint=2):
        """Sets event flag `flag` of SINTx of a VP; returns the TLFS status name."""
        return self._m.hv_signal_event(str(partition), int(vp), int(sint), int(flag))

    # -- serial console --------------------------------------------------------------------
    @property
    def serial_output(self):
        """Everything the guest has written to COM1, as text (UTF-8, undecodable bytes
        replaced)."""
        return self._m.serial_output.decode("utf-8", "replace")

    @property
    def serial_bytes(self):
        """Everything the guest has written to COM1, as bytes."""
        return self._m.serial_output

    def serial_input(self, data):
        """Queues bytes (or text) for the guest to read from COM1."""
        if isinstance(data, str):
            data = data.encode()
        self._m.serial_input(data)

    def on_serial(self, callback):
        """Calls `callback(byte: int)` for each byte the guest writes to COM1."""
        self._serial_callbacks.append(callback)
        callbacks = self._serial_callbacks
        self._m.set_serial_sink(lambda b: [cb(b) for cb in callbacks])

    def set_progress(self, every, fn):
        """Calls `fn()` every `every` of simulated time during run (host-side display only)."""
        self._m.set_progress(_duration_ps(every), fn)

    # -- observation -----------------------------------------------------------------------
    def trace(self, path):
        """Starts a structured trace into `path`: Chrome trace-event JSON (open it in
        Perfetto) if the name ends in .json, else JSON lines. Timestamps are simulated."""
        self._m.trace_open(str(path))

    def trace_stop(self):
        """Ends the trace and closes its file."""
        self._m.trace_close()

    @property
    def instructions(self):
        """Instructions retired, summed over processors."""
        return self._m.instructions

    @property
    def sim_time_ns(self):
        """Simulated time in nanoseconds."""
        return self._m.now_ps // 1000

    def state_hash(self):
        """Hex digest of every processor's architectural state and all RAM contents."""
        return "%016x" % self._m.state_hash()

    def cpu_state(self, index=0):
        """Registers of processor `index` as a dict (rax..r15, rip, rflags, cr0..., run_state;
        mxcsr, fcw, fsw, xcr0 and xmm, a list of 16 128-bit integers)."""
        return self._m.cpu_state(index)

    def set_timing(self, entries=None, **kw):
        """Overrides cycle-cost entries by name from now on, e.g. m.set_timing(divide=30) or
        m.set_timing({"divide": 30}). Checkpoints record the table in force."""
        merged = dict(entries or {})
        merged.update(kw)
        self._m.set_timing({str(k): _cycles(k, v) for k, v in merged.items()})

    def timing(self):
        """The cycle-cost table in force, as a dict name -> cycles."""
        return dict(self._m.timing())

    def stats(self):
        """Counters of the run so far: instructions, cycles, cpi, sim_time_ns, host_seconds,
        mips, state_hash, and per-machine sums of the processors' TLB hits and misses, page
        walks and their memory references, exceptions and interrupts by vector (host_seconds
        and mips are host measurements, not simulated state)."""
        host = self._m.host_seconds
        insns = self._m.instructions
        cycles = self._m.cycles
        tree = self.inspect()
        sums = {"tlb_hits": 0, "tlb_misses": 0, "page_walks": 0, "walk_references": 0}
        exceptions, interrupts = {}, {}
        for i in range(self._m.cpu_count):
            node = tree.get("cpu%d" % i, {})
            tlb = node.get("tlb", {})
            sums["tlb_hits"] += tlb.get("hits", 0)
            sums["tlb_misses"] += tlb.get("misses", 0)
            sums["page_walks"] += tlb.get("page_walks", 0)
            sums["walk_references"] += tlb.get("walk_refs", 0)
            for k, v in node.get("exceptions", {}).items():
                exceptions[k] = exceptions.get(k, 0) + v
            for k, v in node.get("interrupts", {}).get("by_vector", {}).items():
                interrupts[k] = interrupts.get(k, 0) + v
        out = {
            "instructions": insns,
            "cycles": cycles,
            "cpi": (cycles / insns) if insns else 0.0,
            "sim_time_ns": self._m.now_ps // 1000,
            "host_seconds": host,
            "mips": (insns / host / 1e6) if host > 0 else 0.0,
            "state_hash": self.state_hash(),
            "cpus": self._m.cpu_count,
            "exceptions": exceptions,
            "interrupts": interrupts,
        }
        out.update(sums)
        return out

    def inspect(self):
        """The inspect tree (every component's counters and values) as nested dicts."""
        return json.loads(self._m.inspect_json())

    # -- checkpoints -----------------------------------------------------------------------
    def save(self, path):
        """Writes a checkpoint atomically (an existing file is replaced whole or kept)."""
        self._m.save(str(path))

    @classmethod
    def restore(cls, path):
        """Rebuilds a machine from a checkpoint; it continues exactly as the saved one would.
        Raises InputError naming the file and what is wrong for a bad checkpoint."""
        return cls(_native=native.Machine.restore(str(path)))


class Partition:
    """A child partition of a machine in hypervisor mode (`Machine.create_partition`,
    `Machine.partitions`). Its figures come from the machine's inspect tree."""

    def __init__(self, machine, name):
        self._machine = machine
        self.name = name

    def __repr__(self):
        return "Partition(%r)" % self.name

    def shutdown(self, flags=0, reason=0):
        """Asks the guest to shut down through its shutdown integration service
        (Machine.enable_vmbus(..., integration_services=True)); False if not ready."""
        return self._machine.request_shutdown(self.name, flags, reason)

    def sync_time(self):
        """Sends a time sync SYNC sample now (Machine.sync_time); False if not ready."""
        return self._machine.sync_time(self.name)

    @property
    def timesync(self):
        """The time sync IC's figures (samples, samples_answered, last_parent_time,
        last_reference_time, ...), or None."""
        return (self._machine.integration_services(self.name) or {}).get("timesync")

    @property
    def heartbeat(self):
        """The heartbeat IC's figures (alive, sent, acked, missed, ...), or None."""
        return (self._machine.integration_services(self.name) or {}).get("heartbeat")

    def _node(self):
        tree = self._machine.inspect().get("hypervisor", {}).get("partitions", {})
        if self.name not in tree:
            raise InputError("no partition named '%s'" % self.name)
        return tree[self.name]

    @property
    def id(self):
        return self._node()["id"]

    @property
    def parent(self):
        """The parent partition, or None for one the host created."""
        pid = self._node()["parent"]
        for p in self._machine.partitions():
            if p.id == pid:
                return p
        return None

    @property
    def children(self):
        """The partitions whose parent this is, in creation order."""
        me = self.id
        return [p for p in self._machine.partitions() if p._node()["parent"] == me]

    def delete(self):
        """Deletes this partition and its subtree (Machine.delete_partition)."""
        self._machine.delete_partition(self.name)

    @property
    def vcpus(self):
        return sum(1 for k in self._node() if k.startswith("vp"))

    @property
    def crashed(self):
        """The crash report ("triple fault ...", a guest's crash MSRs) or None."""
        state = self._node()["state"]
        return state[len("crashed: "):] if state.startswith("crashed: ") else None

    def stats(self):
        """memory, pages, hypercalls (total, by_code and by_status by TLFS name) and per VP:
        state, physical CPU, turns, exits (total and by_reason), interrupts and NMIs
        injected, wake-ups, emulated MMIO accesses and string I/O instructions."""
        n = self._node()
        vps = []
        k = 0
        while "vp%d" % k in n:
            v = n["vp%d" % k]
            vps.append({key: v[key] for key in v if key not in ("lapic",)})
            k += 1
        return {
            "id": n["id"],
            "memory": n["memory"],
            "pages": n["pages"],
            "state": n["state"],
            "hypercalls": n["hypercalls"],
            "hypercalls_by_code": dict(n.get("hypercalls_by_code", {})),
            "hypercalls_by_status": dict(n.get("hypercalls_by_status", {})),
            "vps": vps,
        }

    # SynIC communication with this partition (Machine.create_port and friends).
    def create_port(self, port_id, kind, vp=0, sint=2, base_flag=0, flag_count=1):
        """A port of this partition aimed at VP `vp`, SINT `sint` (Machine.create_port)."""
        self._machine.create_port(port_id, kind, self.name, vp, sint, base_flag, flag_count)

    def connect(self, connection_id, port_id):
        """This partition's connection `connection_id` to port `port_id`."""
        self._machine.connect(connection_id, port_id, self.name)

    def post_message(self, message_type, payload=b"", vp=0, sint=2, sender=0):
        """A message straight to SINT `sint` of VP `vp`; the TLFS status name."""
        return self._machine.post_message(message_type, payload, self.name, vp, sint, sender)

    def signal_event(self, flag, vp=0, sint=2):
        """Event flag `flag` of SINT `sint` of VP `vp`; the TLFS status name."""
        return self._machine.signal_event(flag, self.name, vp, sint)

    def read(self, gpa, size):
        """The bytes of the partition's memory at guest-physical [gpa, gpa + size) (host-side
        inspection; overlay pages read as what the guest sees there). InputError if any byte
        is not partition memory."""
        return self._machine._m.read_partition(self.name, int(gpa), int(size))

    def registers(self, vp=0):
        """Registers of VP `vp` as a dict (rax..r15, rip, rflags, cr0, cr3, cr4, efer, cs,
        run_state): its VMCS guest state and GPRs, as the hypervisor holds them between
        runs. InputError for a VP that does not exist."""
        return self._machine._m.partition_vp_state(self.name, int(vp))

    def assert_interrupt(self, vector, vp=0, auto_eoi=False):
        """Makes interrupt `vector` pending at the local APIC of VP `vp` (as a fixed,
        edge-triggered message): the guest takes it as soon as it accepts interrupts;
        a halted VP wakes. With `auto_eoi` it is delivered without staying in service."""
        if not 16 <= int(vector) <= 255:
            raise InputError("interrupt vector %d: must be 16-255" % int(vector))
        self._machine._m.assert_interrupt(self.name, int(vp), int(vector), bool(auto_eoi))
