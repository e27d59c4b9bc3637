/* How fast two threads can read memory on this machine, on 4 KiB and on 2 MiB pages: the roof a
 * decode step's weight reads run into (docs/performance.md, entry 12).
 *
 *   cc -O2 -mavx2 -o /tmp/bandwidth tools/compare/bandwidth.c -lpthread && /tmp/bandwidth 2
 *
 * Reads 540 MB (SmolLM2's f32 weights) five times per page size and prints GB/s. */
#include <pthread.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define N (135u * 1000 * 1000)
static float *a;
typedef struct { size_t lo, hi; float sum; } part_t;

static void *run(void *p) {
  part_t *t = p;
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = t->lo; i < t->hi; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_load_ps(a + i));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(a + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(a + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(a + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (int k = 0; k < 8; k++) t->sum += out[k];
  return 0;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (threads < 1 || threads > 8) threads = 2;
  for (int huge = 0; huge < 2; huge++) {
    a = aligned_alloc(2 << 20, (size_t)N * 4);
    if (huge) madvise(a, (size_t)N * 4, MADV_HUGEPAGE);
    memset(a, 1, (size_t)N * 4);
    for (int rep = 0; rep < 5; rep++) {
      pthread_t p[8];
      part_t part[8] = {0};
      size_t per = N / threads / 32 * 32;
      double t0 = now();
      for (int i = 0; i < threads; i++) {
        part[i].lo = i * per;
        part[i].hi = (i + 1) * per;
        pthread_create(&p[i], 0, run, &part[i]);
      }
      for (int i = 0; i < threads; i++) pthread_join(p[i], 0);
      double dt = now() - t0;
      printf("%s pages, %d threads: %.1f GB/s (%g)\n", huge ? "2 MiB" : "4 KiB", threads,
             (double)per * threads * 4 / dt / 1e9, part[0].sum);
    }
    free(a);
  }
  return 0;
}
