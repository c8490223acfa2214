/* The benchmarks' C helpers' clock: CLOCK_MONOTONIC in microseconds (the clock Node's
   process.hrtime and the launcher's now_us read too, so marks from each line up). */
#ifndef CODEXEC_BENCH_CLOCK_H
#define CODEXEC_BENCH_CLOCK_H
#include <time.h>

static inline long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
#endif
