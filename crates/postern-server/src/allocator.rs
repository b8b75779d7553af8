//! The process's memory allocator: jemalloc instead of glibc's malloc, for every binary that
//! links the server (`postern`, the benchmark's `postern-seeded`, the tests).
//!
//! Why: an idle keep-alive connection keeps hyper's two 8 KiB buffers, and each request
//! briefly allocates the router's future (several KiB) between them. glibc's malloc hands
//! out the long-lived buffers and the short-lived future from the same pages, so the freed
//! future leaves touched pages behind every connection. Measured on 2026-12-04 (5,000
//! connections, one `GET /api/health` each, then idle; RSS of `postern serve`, memory store;
//! the allocators loaded with `LD_PRELOAD` into the same release binary):
//!
//! | allocator | RSS per idle connection | idle RSS | RSS with 100k sessions |
//! | --- | ---: | ---: | ---: |
//! | glibc 2.36 malloc | 16.9 KiB | 9.6 MiB | 38.6 MiB |
//! | jemalloc 5.3 (Debian's, preloaded) | 7.1 KiB | 11.8 MiB | 39.8 MiB |
//! | mimalloc 2.0 (Debian's, preloaded) | 10.9 KiB | 10.3 MiB | 36.9 MiB |
//! | mimalloc crate 0.1.52, linked in | 19.4 KiB | 15.7 MiB | 60.1 MiB |
//! | tikv-jemallocator 0.6, linked in (this) | 7.1 KiB | 10.6 MiB | 38.8 MiB |
//!
//! bare hyper on glibc holds 10.5 KiB per idle connection; 10,000 idle connections now cost
//! about 70 MiB on top of the idle RSS (target: < 160 MB in all). The price is build time:
//! jemalloc is C built with autoconf, about a minute more for each fresh build on two cores.
//! The check path allocates little (the boxed service future and a few small values); rows c
//! and i of postern-bench show whether the allocator moves its CPU per request.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
