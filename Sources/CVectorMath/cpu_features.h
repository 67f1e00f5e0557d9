// CPU feature detection shared by the kernels of this target (internal: not in include/,
// so it is not part of the Swift module).
#ifndef CAPG_CPU_FEATURES_H
#define CAPG_CPU_FEATURES_H

enum {
    CAPG_CPU_AVX2 = 1 << 0, // AVX2, and the OS saves YMM state
    CAPG_CPU_FMA = 1 << 1,  // FMA3 (with the same OS support)
    CAPG_CPU_SHA = 1 << 2,  // the SHA extensions, with SSSE3 and SSE4.1 (no OS state needed)
    CAPG_CPU_SSE42 = 1 << 3, // SSE4.2 (its crc32 instruction)
};

/// The CAPG_CPU_* bits of this CPU (0 on non-x86-64). CPUID runs once per process: it
/// traps to the hypervisor in a VM (~10 µs measured here), which cost 11 µs per call — a
/// third of the whole step at N = 1000 — when the exp kernel ran it on every call. The
/// answer is cached in a relaxed atomic: racing threads compute and store the same value,
/// and it never changes within a process, so every kernel picks one variant for good
/// (bulk and scalar results agree bitwise).
__attribute__((visibility("hidden"))) int capg_cpu_features(void);

#endif
