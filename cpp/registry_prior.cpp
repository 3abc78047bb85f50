#include "registry_prior.h"

#include <pybind11/embed.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <stdexcept>

#include "embedded_python.h"
#include "python_entry_points.h"
#include "python_objects.h"

namespace py = pybind11;

namespace mlff {

namespace {

py::dict keyword_arguments(const PriorParams& params) {
  py::dict kwargs;
  for (const auto& [key, value] : params) kwargs[py::str(key)] = value;
  return kwargs;
}

}  // namespace

struct RegistryPrior::State {
  py::object module;   // mlff_ttt.plugin.entry_points
  py::object prior;
};

RegistryPrior::RegistryPrior(const std::string& name, const PriorParams& params,
                             const std::vector<std::string>& elements, double timeout)
    : timeout_(timeout) {
  ensure_python_interpreter();
  state_ = call_python("cannot create the prior '" + name + "': ", [&] {
    auto state = std::make_unique<State>();
    state->module = py::module_::import(kPythonEntryModule);
    state->prior = state->module.attr(kEntryRegistryPrior)(name, keyword_arguments(params),
                                                           py::cast(elements));
    return state;
  });
}

RegistryPrior::~RegistryPrior() { release_python_state(state_); }

double RegistryPrior::evaluate(const std::vector<std::string>& symbols, const double* positions,
                               const double* cell, const bool* pbc, double* forces) {
  return call_python("the prior failed: ", [&] {
    const py::ssize_t n = static_cast<py::ssize_t>(symbols.size());
    py::dict out = state_->module.attr(kEntryPriorLabels)(
        state_->prior, symbols, py::array_t<double>({n, py::ssize_t(3)}, positions),
        py::array_t<double>({py::ssize_t(3), py::ssize_t(3)}, cell),
        std::vector<bool>(pbc, pbc + 3), timeout_);
    auto f = out["forces"].cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
    if (f.size() != 3 * n) throw std::runtime_error("the prior returned forces of a wrong shape");
    std::copy(f.data(), f.data() + 3 * n, forces);
    return out["energy"].cast<double>();
  });
}

bool is_prior_spec(const std::string& spec, const std::string& name, const PriorParams& params) {
  ensure_python_interpreter();
  return call_python("cannot compare the prior with the model's: ", [&] {
    auto module = py::module_::import(kPythonEntryModule);
    return module.attr(kEntryIsPriorSpec)(spec, name, keyword_arguments(params)).cast<bool>();
  });
}

}  // namespace mlff
