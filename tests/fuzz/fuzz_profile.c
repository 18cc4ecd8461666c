/*
 * kl_ref_conf_parse (kluis.conf(5) profiles, base/cliref.c): no crash on
 * any text; it fails with "line N: why" or returns at most the maximum of
 * settings, each a profile key of the table with a non-empty, trimmed
 * value inside the text, one per line in line order, and a key that is
 * not repeatable at most once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/cliref.h"

#include "fuzz.h"

#define PROFILE_TEXT_MAX ((size_t)64 << 10)
#define PROFILE_SETTINGS_MAX 6

/* The kinds of option a profile meets: a key with an alias (which is no
 * key), a secret one, a repeatable one, a flag, an option that is no
 * key. */
static const struct kl_ref_opt opts[] = {
	{ 1, "repo", "repository", 'r', "URL", KL_REF_CONF, "", NULL },
	{ 2, "key-file", NULL, 0, "FILE", KL_REF_CONF | KL_REF_CONF_SECRET,
	    "", NULL },
	{ 3, "exclude", NULL, 0, "GLOB", KL_REF_CONF | KL_REF_REPEAT, "",
	    NULL },
	{ 4, "one-file-system", NULL, 'x', NULL,
	    KL_REF_CONF | KL_REF_CONF_BACKUP, "", NULL },
	{ 5, "verbose", NULL, 'v', NULL, KL_REF_GLOBAL, "", NULL },
};

static const struct kl_ref ref = {
	"fuzz", 1, "0", "", "", "", opts, sizeof(opts) / sizeof(opts[0]),
	NULL, 0, NULL, 0,
};

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
check_setting(const struct kl_ref_setting *s, const char *text, size_t len)
{
	size_t vl;

	fuzz_require(s->o >= opts && s->o < opts + ref.nopts);
	fuzz_require((s->o->flags & KL_REF_CONF) != 0);
	fuzz_require(s->value >= text && s->value < text + len);
	vl = strlen(s->value);
	fuzz_require(vl > 0 && s->value + vl <= text + len);
	fuzz_require(memchr(s->value, '\n', vl) == NULL);
	fuzz_require(!is_blank(s->value[0]) && !is_blank(s->value[vl - 1]) &&
	    s->value[vl - 1] != '\r');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_ref_setting s[PROFILE_SETTINGS_MAX];
	char msg[KL_REF_MSG_MAX] = "";
	unsigned line = 0, prev = 0;
	char *text;
	long r, i, j;

	if (size > PROFILE_TEXT_MAX)
		size = PROFILE_TEXT_MAX;
	/* Exactly size + 1 bytes, so that ASan sees a read past the NUL. */
	fuzz_require((text = malloc(size + 1)) != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	r = kl_ref_conf_parse(&ref, text, s, PROFILE_SETTINGS_MAX, &line, msg,
	    sizeof(msg));
	fuzz_require(r >= -1 && r <= PROFILE_SETTINGS_MAX);
	fuzz_require(line >= 1);
	if (r == -1)
		fuzz_require(strncmp(msg, "line ", 5) == 0);
	for (i = 0; i < r; i++) {
		check_setting(&s[i], text, size);
		/* one setting a line: strictly increasing */
		fuzz_require(s[i].line > prev && s[i].line <= line);
		prev = s[i].line;
		for (j = 0; j < i; j++)
			fuzz_require(s[j].o != s[i].o ||
			    (s[i].o->flags & KL_REF_REPEAT));
	}
	free(text);
	return 0;
}
