#pragma once

// Handing memory the allocator keeps for reuse back to the system, at the few points
// where a phase that freed a lot is followed by one that allocates a lot (the index
// builds of a first load after its rows were read). The allocator is the program's
// choice (jemalloc in the mdesync binary, ADR 0050), so the program registers how.

namespace mdesync::util {

// Registers how to release free memory; nullptr (the default) makes release a no-op.
// Call before any thread that may release starts.
void set_free_memory_releaser(void (*release)());

// Returns the allocator's unused pages to the system, when a releaser is registered.
void release_free_memory();

}  // namespace mdesync::util
