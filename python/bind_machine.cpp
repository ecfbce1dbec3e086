// Bindings of machine/: MachineParams, Machine, StopReason, size and duration parsing.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "core/error.h"
#include "cpu/cpu.h"
#include "cpu/vmx/spec/exit_reason.h"
#include "hv/hypervisor.h"
#include "hv/spec/tlfs.h"
#include "machine/machine.h"

namespace py = pybind11;

namespace hvsim::python {

namespace {
py::dict timing_dict(const cpu::timing::Table& t) {
  py::dict d;
  for (const auto& e : cpu::timing::entries()) d[e.name] = t.*e.field;
  return d;
}
// Registers as a dict (rax..r15, rip, rflags, control registers, cs, SSE/x87 control, xmm).
py::dict state_dict(const cpu::ArchState& s) {
  static const char* kNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                   "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  py::dict d;
  for (int r = 0; r < 16; ++r) d[kNames[r]] = s.gpr[r];
  d["rip"] = s.rip;
  d["rflags"] = s.rflags;
  d["cr0"] = s.cr0;
  d["cr2"] = s.cr2;
  d["cr3"] = s.cr3;
  d["cr4"] = s.cr4;
  d["efer"] = s.efer;
  d["cs"] = s.seg[cpu::kCs].selector;
  d["mxcsr"] = s.fpu.mxcsr;
  d["fcw"] = s.fpu.fcw;
  d["fsw"] = s.fpu.fsw;
  d["xcr0"] = s.fpu.xcr0;
  py::list xmm;
  for (const cpu::Xmm& x : s.fpu.xmm) xmm.append((py::int_(x.hi) << py::int_(64)) | py::int_(x.lo));
  d["xmm"] = xmm;
  return d;
}

// Hypervisor-mode helpers of the bindings below.
hv::Hypervisor* hypervisor_of(Machine& self) {
  if (!self.hypervisor())
    throw InputError("the machine is in bare-metal mode: no hypervisor to watch");
  return self.hypervisor();
}

hv::Partition& partition_named(Machine& self, const std::string& name) {
  if (!self.hypervisor())
    throw InputError("the machine is in bare-metal mode: it has no partitions");
  hv::Partition* p = self.hypervisor()->find_partition(name);
  if (!p) throw InputError("no partition named '" + name + "'");
  return *p;
}

// An observer that raises: no more calls; the run ends at its next poll (at most a
// simulated millisecond later) and run() re-raises the exception.
void call_observer(const py::function& fn, const py::dict& d) {
  if (PyErr_Occurred()) return;
  try {
    fn(d);
  } catch (py::error_already_set& e) {
    e.restore();
  }
}

}  // namespace

void bind_machine(py::module_& m) {
  py::class_<MachineParams>(m, "MachineParams", "Parameters of a machine (see machine/params.h).")
      .def(py::init<>())
      .def_readwrite("cpus", &MachineParams::cpus, "number of processors")
      .def_readwrite("memory", &MachineParams::memory, "bytes of RAM")
      .def_readwrite("seed", &MachineParams::seed, "seed of the machine's RNG")
      .def_readwrite("cpu_freq_hz", &MachineParams::cpu_freq_hz, "core clock in Hz")
      .def_readwrite("quantum_ps", &MachineParams::quantum, "scheduler quantum in picoseconds")
      .def_readwrite("rtc_start", &MachineParams::rtc_start,
                     "CMOS RTC time at simulated time 0, seconds since 1970 (UTC)")
      .def_readwrite("hyperv", &MachineParams::hyperv,
                     "hypervisor mode: the kernel boots in a child partition")
      .def_readwrite("partition_memory", &MachineParams::partition_memory,
                     "hypervisor mode: bytes of the child partition's memory (0: half of RAM)")
      .def_readwrite("hyperv_testdev", &MachineParams::hyperv_testdev,
                     "hypervisor mode: the Hyper-V test device at port 0x3000")
      .def(
          "set_timing",
          [](MachineParams& p, const std::string& name, uint64_t cycles) {
            cpu::timing::set(p.timing, name, cycles);
          },
          py::arg("name"), py::arg("cycles"),
          "Sets one entry of the cycle-cost table (cpu/timing.h); InputError if unknown.")
      .def(
          "timing", [](const MachineParams& p) { return timing_dict(p.timing); },
          "The cycle-cost table as a dict.");

  m.def(
      "timing_entries",
      [] {
        py::list out;
        cpu::timing::Table defaults;
        for (const auto& e : cpu::timing::entries())
          out.append(py::make_tuple(e.name, defaults.*e.field, e.doc));
        return out;
      },
      "The timing table's entries: (name, default cycles, description), in table order.");

  py::class_<StopReason>(m, "StopReason", "Why a run stopped.")
      .def_property_readonly("kind", &StopReason::kind_name)
      .def_readonly("exit_value", &StopReason::exit_value)
      .def_readonly("cpu", &StopReason::cpu)
      .def_readonly("rip", &StopReason::rip)
      .def_readonly("message", &StopReason::message)
      .def_property_readonly("exit_status", &StopReason::exit_status);

  m.def("parse_size", &parse_size, py::arg("text"), py::arg("what") = "size",
        "Parses '256M', '1G', '4096K' or a byte count; raises InputError if malformed.");
  m.def("parse_duration", &parse_duration, py::arg("text"), py::arg("what") = "duration",
        "Parses '10ms', '5us', '2s', '100ns' (bare numbers are ns) into picoseconds.");

  py::class_<Machine>(m, "Machine", "A simulated computer (native part).")
      .def(py::init<const MachineParams&>(), py::arg("params"))
      .def(
          "load_kernel",
          [](Machine& self, const std::string& path, const std::string& cmdline,
             const std::vector<std::string>& modules) {
            const BootPlan& p = self.load_kernel({path, cmdline, modules});
            py::dict d;
            d["entry"] = p.entry == BootPlan::Entry::kMultiboot32 ? "multiboot32" : "long64";
            d["entry_point"] = p.entry_point;
            d["info_addr"] = p.info_addr;
            d["image_end"] = p.image_end;
            return d;
          },
          py::arg("path"), py::arg("cmdline"), py::arg("modules"))
      .def(
          "run",
          [](Machine& self, uint64_t max_instructions, uint64_t until_ps) {
            // Ctrl-C: checked every simulated millisecond; the run stops at an instruction
            // boundary and the KeyboardInterrupt propagates.
            self.set_poll([] { return PyErr_Occurred() != nullptr || PyErr_CheckSignals() != 0; });
            StopReason r = self.run(max_instructions, until_ps);
            self.set_poll(nullptr);
            if (PyErr_Occurred()) throw py::error_already_set();
            return r;
          },
          py::arg("max_instructions"), py::arg("until_ps"))
      .def_property_readonly("serial_output",
                             [](const Machine& self) { return py::bytes(self.serial_output()); })
      .def("serial_input", &Machine::serial_input, py::arg("data"))
      .def("set_serial_sink", &Machine::set_serial_sink, py::arg("sink"))
      .def("set_progress", &Machine::set_progress, py::arg("every_ps"), py::arg("fn"))
      .def("trace_open", [](Machine& self, const std::string& path) { self.tracer().open(path); })
      .def("trace_close", [](Machine& self) { self.tracer().close(); })
      .def_property_readonly("now_ps", &Machine::now)
      .def_property_readonly("instructions", &Machine::instructions)
      .def_property_readonly("cycles", &Machine::cycles)
      .def_property_readonly("host_seconds",
                             [](const Machine& self) { return self.host_stats().seconds; })
      .def_property_readonly("cpu_count", &Machine::cpu_count)
      .def(
          "set_timing",
          [](Machine& self, const py::dict& entries) {
            cpu::timing::Table t = self.params().timing;
            for (auto [k, v] : entries)
              cpu::timing::set(t, k.cast<std::string>(), v.cast<uint64_t>());
            self.set_timing(t);
          },
          py::arg("entries"))
      .def("timing", [](const Machine& self) { return timing_dict(self.params().timing); })
      .def(
          "create_partition",
          [](Machine& self, const std::string& name, uint32_t vcpus, uint64_t memory,
             std::optional<std::string> kernel, const std::string& cmdline,
             const std::vector<std::string>& modules, uint32_t parent, bool root) {
            KernelSpec spec{kernel.value_or(""), cmdline, modules};
            return self
                .create_partition(name, vcpus, memory, kernel ? &spec : nullptr, parent, root)
                .id;
          },
          py::arg("name"), py::arg("vcpus"), py::arg("memory"), py::arg("kernel"),
          py::arg("cmdline"), py::arg("modules"), py::arg("parent") = 0, py::arg("root") = false)
      .def(
          "read_partition",
          [](Machine& self, const std::string& name, uint64_t gpa, uint64_t size) {
            hv::Partition& p = partition_named(self, name);
            if (size > (uint64_t{64} << 20))
              throw InputError("read of " + std::to_string(size) +
                               " bytes: at most 64 MiB at once");
            std::string out(size, '\0');
            if (!self.hypervisor()->read_guest(p, gpa, out.data(), size))
              throw InputError("partition '" + name + "' has no memory at every byte of [" +
                               std::to_string(gpa) + ", +" + std::to_string(size) + ")");
            return py::bytes(out);
          },
          py::arg("name"), py::arg("gpa"), py::arg("size"))
      .def(
          "partition_vp_state",
          [](Machine& self, const std::string& name, uint32_t vp) {
            hv::Partition& p = partition_named(self, name);
            if (vp >= p.vps.size())
              throw InputError("partition '" + name + "' has no virtual processor " +
                               std::to_string(vp));
            cpu::ArchState st;
            if (!self.hypervisor()->read_vp_state(p.vps[vp], &st))
              throw InputError("partition '" + name + "' VP " + std::to_string(vp) +
                               ": its physical CPU is running a guest (try between runs)");
            py::dict d = state_dict(st);
            // What read_vp_state reads: the VMCS guest state and the GPRs.
            for (const char* k : {"cr2", "mxcsr", "fcw", "fsw", "xcr0", "xmm"})
              PyDict_DelItemString(d.ptr(), k);
            const hv::VirtualProcessor& v = p.vps[vp];
            d["run_state"] = v.waiting_for_sipi ? "waiting for SIPI"
                             : v.halted         ? "halted"
                                                : "running";
            return d;
          },
          py::arg("name"), py::arg("vp"))
      .def(
          "assert_interrupt",
          [](Machine& self, const std::string& name, uint32_t vp, uint8_t vector, bool auto_eoi) {
            hv::Partition& p = partition_named(self, name);
            if (vp >= p.vps.size())
              throw InputError("partition '" + name + "' has no virtual processor " +
                               std::to_string(vp));
            self.hypervisor()->assert_interrupt(p, vp, vector, auto_eoi);
          },
          py::arg("name"), py::arg("vp"), py::arg("vector"), py::arg("auto_eoi"))
      .def(
          "set_exit_observer",
          [](Machine& self, std::optional<py::function> fn) {
            hv::Hypervisor* hv = hypervisor_of(self);
            if (!fn) return hv->set_exit_observer(nullptr);
            hv->set_exit_observer([fn = *fn](const hv::ExitEvent& e) {
              py::dict d;
              d["partition"] = e.partition->name;
              d["vp"] = e.vp;
              d["reason"] = cpu::vmx::spec::to_string(e.exit->basic());
              d["qualification"] = e.exit->qualification;
              d["guest_physical_address"] = e.exit->guest_physical_address;
              d["rip"] = e.rip;
              call_observer(fn, d);
            });
          },
          py::arg("fn"))
      .def(
          "set_hypercall_observer",
          [](Machine& self, std::optional<py::function> fn) {
            hv::Hypervisor* hv = hypervisor_of(self);
            if (!fn) return hv->set_hypercall_observer(nullptr);
            hv->set_hypercall_observer([fn = *fn](const hv::HypercallEvent& e) {
              py::dict d;
              d["partition"] = e.partition->name;
              d["vp"] = e.vp;
              d["code"] = e.input & 0xFFFF;
              d["call"] = hv::spec::to_string(static_cast<hv::spec::HvCallCode>(e.input & 0xFFFF));
              d["fast"] = (e.input >> 16 & 1) != 0;
              d["input"] = e.input;
              d["status"] = hv::spec::to_string(static_cast<hv::spec::HvStatus>(e.result & 0xFFFF));
              d["result"] = e.result;
              call_observer(fn, d);
            });
          },
          py::arg("fn"))
      .def("state_hash", &Machine::state_hash)
      .def("inspect_json", &Machine::inspect_json)
      .def("save", &Machine::save, py::arg("path"))
      .def_static("restore", &Machine::restore, py::arg("path"))
      .def(
          "cpu_state",
          [](Machine& self, size_t i) {
            if (i >= self.cpu_count()) throw py::index_error("no processor " + std::to_string(i));
            py::dict d = state_dict(self.cpu(i).state());
            d["run_state"] = cpu::to_string(self.cpu(i).run_state());
            return d;
          },
          py::arg("index") = 0);
}

}  // namespace hvsim::python
