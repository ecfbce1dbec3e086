// The _hvsim extension module: error types and the sub-module bindings.
#include <pybind11/pybind11.h>

#include "core/error.h"

namespace py = pybind11;

namespace hvsim::python {
void bind_machine(py::module_& m);
void bind_hv(py::module_& m);
void bind_vmbus(py::module_& m);
}  // namespace hvsim::python

PYBIND11_MODULE(_hvsim, m) {
  m.doc() = "hvsim native core (use the `hvsim` package, not this module directly)";
  py::register_exception<hvsim::InputError>(m, "InputError", PyExc_ValueError);
  hvsim::python::bind_machine(m);
  hvsim::python::bind_hv(m);  // adds to Machine: after bind_machine
  hvsim::python::bind_vmbus(m);
}
