// glibc's malloc settings for the Node processes that move images: the appliance (images/appliance/
// Dockerfile sets GLIBC_TUNABLES) and the boot client's imaging client (actions/image.sh). Both
// allocate and free buffers of megabytes many times a second (a 4 MiB window, its compressed chunk,
// an upload's body). By default glibc serves such a buffer with mmap and gives it back on free, so
// every window costs a fresh mapping whose pages the kernel faults in and zeroes, and freed heap
// memory is trimmed back to the kernel, to be faulted in again. With these, buffers up to 32 MiB come
// from the heap and up to 256 MiB of freed memory stays in the process for the next one: the imaging
// bench measured a capture about 10 % faster, with less CPU in both the client and the api (the
// kernel's clear_page and page faults; test/bench/results/imaging.md). The bench runs both with these.
export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456';
