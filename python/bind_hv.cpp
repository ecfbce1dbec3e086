// Bindings of hv/'s host API on a hypervisor-mode Machine: ports, connections, messages and
// events (TLFS "Ports and Connections"; dossier §4.7). Partitions are named as the machine
// named them ("child"). Statuses come back as the TLFS name (e.g. "HV_STATUS_SUCCESS").
#include <pybind11/pybind11.h>

#include <string>

#include "core/error.h"
#include "hv/hypervisor.h"
#include "machine/machine.h"

namespace py = pybind11;

namespace hvsim::python {

namespace {

hv::Hypervisor& hypervisor(Machine& m) {
  hv::Hypervisor* h = m.hypervisor();
  if (!h) throw InputError("not a hypervisor-mode machine (mode=\"hyperv\")");
  return *h;
}

hv::Partition& partition(Machine& m, const std::string& name) {
  for (const auto& p : hypervisor(m).partitions())
    if (p->name == name) return *p;
  throw InputError("no partition named '" + name + "' (load a kernel first)");
}

}  // namespace

void bind_hv(py::module_& m) {
  auto machine = py::reinterpret_borrow<py::class_<Machine>>(m.attr("Machine"));
  machine
      .def(
          "hv_create_port",
          [](Machine& self, uint32_t id, const std::string& kind, const std::string& part,
             uint32_t vp, unsigned sint, uint16_t base_flag, uint16_t flag_count) {
            if (kind != "message" && kind != "event")
              throw InputError("port kind '" + kind + "': expected 'message' or 'event'");
            hv::Port p;
            p.id = id;
            p.type = kind == "message" ? hv::PortType::kMessage : hv::PortType::kEvent;
            p.partition = partition(self, part).id;
            p.vp = vp;
            p.sint = sint;
            p.base_flag = base_flag;
            p.flag_count = flag_count;
            hypervisor(self).create_port(p);
          },
          py::arg("id"), py::arg("kind"), py::arg("partition"), py::arg("vp"), py::arg("sint"),
          py::arg("base_flag"), py::arg("flag_count"))
      .def(
          "hv_delete_partition",
          [](Machine& self, const std::string& name) {
            hypervisor(self).delete_partition(partition(self, name).id);
          },
          py::arg("name"))
      .def(
          "hv_delete_port", [](Machine& self, uint32_t id) { hypervisor(self).delete_port(id); },
          py::arg("id"))
      .def(
          "hv_connect",
          [](Machine& self, const std::string& sender, uint32_t connection_id, uint32_t port_id) {
            hypervisor(self).connect(partition(self, sender), connection_id, port_id);
          },
          py::arg("sender"), py::arg("connection_id"), py::arg("port_id"))
      .def(
          "hv_post_message",
          [](Machine& self, const std::string& part, uint32_t vp, unsigned sint, uint32_t type,
             const py::bytes& payload, uint64_t sender) {
            std::string data = payload;
            hv::spec::HvStatus s =
                hypervisor(self).post_message(partition(self, part), vp, sint, type, data.data(),
                                              static_cast<uint32_t>(data.size()), sender);
            return std::string(hv::spec::to_string(s));
          },
          py::arg("partition"), py::arg("vp"), py::arg("sint"), py::arg("type"), py::arg("payload"),
          py::arg("sender"))
      .def(
          "hv_signal_event",
          [](Machine& self, const std::string& part, uint32_t vp, unsigned sint, unsigned flag) {
            return std::string(hv::spec::to_string(
                hypervisor(self).signal_event(partition(self, part), vp, sint, flag)));
          },
          py::arg("partition"), py::arg("vp"), py::arg("sint"), py::arg("flag"));
}

}  // namespace hvsim::python
