// Bindings of the VMBus server on a hypervisor-mode Machine (devices/vmbus, docs/vmbus.md):
// enable a server for a partition, add and rescind offers, signal a channel. Its state is
// read from the inspect tree ("vmbus").
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "devices/vmbus/ic/services.h"
#include "devices/vmbus/server.h"
#include "machine/machine.h"

namespace py = pybind11;

namespace hvsim::python {

namespace {

vmbus::Server& server(Machine& m, const std::string& name) {
  vmbus::Server* s = m.vmbus(name);
  if (!s) throw InputError("partition '" + name + "' has no VMBus server (enable_vmbus)");
  return *s;
}

}  // namespace

void bind_vmbus(py::module_& m) {
  auto machine = py::reinterpret_borrow<py::class_<Machine>>(m.attr("Machine"));
  machine
      .def(
          "vmbus_enable",
          [](Machine& self, const std::string& name, const std::vector<uint32_t>& versions,
             SimTime monitor_latency) {
            vmbus::ServerParams p;
            if (!versions.empty()) p.versions = versions;
            if (monitor_latency) p.monitor_latency = monitor_latency;
            self.enable_vmbus(name, p);
          },
          py::arg("partition"), py::arg("versions"), py::arg("monitor_latency") = 0)
      .def(
          "vmbus_enable_ic",
          [](Machine& self, const std::string& name, SimTime period) {
            self.enable_integration_services(name, period);
          },
          py::arg("partition"), py::arg("period_ps"))
      .def(
          "vmbus_shutdown",
          [](Machine& self, const std::string& name, uint32_t flags, uint32_t reason) {
            vmbus::ic::IntegrationServices* ics = self.integration_services(name);
            if (!ics) throw InputError("partition '" + name + "' has no integration services");
            return ics->shutdown().request(flags, reason, 0);
          },
          py::arg("partition"), py::arg("flags"), py::arg("reason"))
      .def(
          "vmbus_sync_time",
          [](Machine& self, const std::string& name) {
            vmbus::ic::IntegrationServices* ics = self.integration_services(name);
            if (!ics) throw InputError("partition '" + name + "' has no integration services");
            return ics->timesync().sync_now();
          },
          py::arg("partition"))
      .def(
          "vmbus_add_offer",
          [](Machine& self, const std::string& name, const std::string& interface_type,
             const std::string& instance, const std::string& label, uint16_t flags,
             bool monitored) {
            vmbus::OfferParams o;
            o.monitored = monitored;
            o.interface_type = vmbus::parse_guid(interface_type);
            o.instance = vmbus::parse_guid(instance);
            o.name = label;
            o.flags = flags;
            return server(self, name).add_offer(o);
          },
          py::arg("partition"), py::arg("interface_type"), py::arg("instance"), py::arg("name"),
          py::arg("flags"), py::arg("monitored") = false)
      .def(
          "vmbus_add_echo",
          [](Machine& self, const std::string& name) { return self.add_vmbus_echo(name); },
          py::arg("partition"))
      .def(
          "vmbus_rescind",
          [](Machine& self, const std::string& name, uint32_t relid) {
            server(self, name).rescind(relid);
          },
          py::arg("partition"), py::arg("relid"))
      .def(
          "vmbus_signal",
          [](Machine& self, const std::string& name, uint32_t relid) {
            return server(self, name).signal_guest(relid);
          },
          py::arg("partition"), py::arg("relid"));
}

}  // namespace hvsim::python
