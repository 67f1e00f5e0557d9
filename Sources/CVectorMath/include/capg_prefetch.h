#ifndef CAPG_PREFETCH_H
#define CAPG_PREFETCH_H

/// A hint to load the cache line holding `p` for reading (no effect on any result). Used
/// where a handful of rows of a large table are about to be read in random order, so their
/// cache misses overlap instead of following one another.
static inline void capg_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
