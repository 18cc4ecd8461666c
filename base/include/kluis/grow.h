/*
 * Growable arrays: the one way kluis makes room in an array that grows
 * (issue #12).  An array is a pointer, a count the caller keeps and a
 * capacity this code keeps.
 */
#ifndef KLUIS_GROW_H
#define KLUIS_GROW_H

#include <stddef.h>

#define KL_GROW_MIN 16		/* first capacity, in elements */

/*
 * Makes the array *pp of *cap elements of elem bytes hold at least need
 * elements: the capacity doubles (from KL_GROW_MIN) until it does, new
 * elements are not initialised.  KL_E_LIMIT if the size would overflow,
 * KL_E_NOMEM if allocation fails; *pp and *cap change only on success.
 * pp points to the array pointer (a T **); use KL_GROW.
 */
int kl_grow(void *pp, size_t *cap, size_t need, size_t elem);

/* kl_grow for an array p of capacity cap (lvalues): KL_GROW(a, cap, n + 1). */
#define KL_GROW(p, cap, need) kl_grow(&(p), &(cap), (need), sizeof(*(p)))

/*
 * Test-only failure injection (STYLE "Tests"): the n-th growth from now
 * that allocates fails with KL_E_NOMEM (n <= 0: none).  The environment
 * variable KLUIS_FAULT_ALLOC=n does the same for a whole process.
 */
void kl_grow_fault(long n);

#endif
