// Every Python function the C++ calls by name, in one place: they live in one module
// (python/mlff_ttt/plugin/entry_points.py), and tests/test_entry_points.py checks that each
// name listed in kPythonEntryPoints exists there, since a missing one fails only at run time.
#pragma once

namespace mlff {

inline constexpr const char* kPythonEntryModule = "mlff_ttt.plugin.entry_points";

// TTT (ttt_bridge.cpp)
inline constexpr const char* kEntryCreate = "create";
inline constexpr const char* kEntryUpdate = "update";
inline constexpr const char* kEntrySave = "save";
inline constexpr const char* kEntrySaveOptimizer = "save_optimizer";
inline constexpr const char* kEntryLoadOptimizer = "load_optimizer";
inline constexpr const char* kEntryPriorMismatch = "prior_mismatch";
// a prior of the Python registry (registry_prior.cpp)
inline constexpr const char* kEntryRegistryPrior = "registry_prior";
inline constexpr const char* kEntryPriorLabels = "prior_labels";
inline constexpr const char* kEntryIsPriorSpec = "is_prior_spec";
// the Python hook (python_hook.cpp)
inline constexpr const char* kEntryInvokeHook = "invoke_hook";

inline constexpr const char* kPythonEntryPoints[] = {
    kEntryCreate,        kEntryUpdate,        kEntrySave,       kEntrySaveOptimizer,
    kEntryLoadOptimizer, kEntryRegistryPrior, kEntryPriorLabels, kEntryPriorMismatch,
    kEntryIsPriorSpec,   kEntryInvokeHook};

}  // namespace mlff
