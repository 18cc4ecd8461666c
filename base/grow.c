/* Growable arrays (kluis/grow.h). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/grow.h"

/* -1: not read from the environment yet.  Atomic: backups grow arrays
 * from several threads. */
static atomic_long fault_at = -1, fault_calls;

void
kl_grow_fault(long n)
{
	atomic_store(&fault_calls, 0);
	atomic_store(&fault_at, n > 0 ? n : 0);
}

static int
fault_hit(void)
{
	const char *s;
	long at = atomic_load(&fault_at);

	if (at < 0) {
		s = getenv("KLUIS_FAULT_ALLOC");
		at = s != NULL ? strtol(s, NULL, 10) : 0;
		atomic_store(&fault_at, at);
	}
	return at > 0 && atomic_fetch_add(&fault_calls, 1) + 1 == at;
}

/*
 * The array pointer is read and written with memcpy: pp points to a T *,
 * not to a void *, and object pointers share one representation on the
 * systems kluis runs on (POSIX requires it).
 */
int
kl_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
	void *old, *p;
	size_t ncap = *cap;

	if (need <= *cap)
		return KL_OK;
	if (elem == 0)
		return KL_E_INVAL;
	if (ncap < KL_GROW_MIN)
		ncap = KL_GROW_MIN;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return KL_E_LIMIT;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem)
		return KL_E_LIMIT;
	if (fault_hit())
		return KL_E_NOMEM;
	memcpy(&old, pp, sizeof(old));
	if ((p = realloc(old, ncap * elem)) == NULL)
		return KL_E_NOMEM;
	memcpy(pp, &p, sizeof(p));
	*cap = ncap;
	return KL_OK;
}
