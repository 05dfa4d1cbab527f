/*
 * test_epochs.c — unit tests for wal/epochs.c: load, append and reload;
 * the exact file format; every kind of bad line refused with its line
 * number; refused appends leave file and list alone; every verdict of
 * epochs_check; epochs_compare (prefix, equal, a branch in the same
 * epoch, a newer epoch, a different leader) and epochs_replace (durable,
 * and refused whole when out of order).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epochs.h"
#include "sl_error.h"

struct fixture {
	char dir[PATH_MAX];
	char path[PATH_MAX + 16];
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/sluice-epochs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/epochs", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char tmp[PATH_MAX + 32];
	unlink(f->path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	unlink(tmp);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
}

static char *read_file(const char *path)
{
	static char text[4096];
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	size_t n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	return text;
}

static void test_load_append_reload(void **state)
{
	struct fixture *f = *state;
	struct epochs h;
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(epochs_current(&h), 0);
	assert_int_equal(access(f->path, F_OK), -1); /* loading does not create it */
	assert_int_equal(epochs_append(&h, 1, 0, "node1"), 0);
	assert_int_equal(epochs_append(&h, 3, 0x16B3F0, "node2"), 0);
	assert_int_equal(epochs_append(&h, 4, 0x16B3F0, "node-3.example"), 0);
	assert_int_equal(epochs_current(&h), 4);
	assert_string_equal(read_file(f->path), "1 0000000000000000 node1\n"
						"3 000000000016B3F0 node2\n"
						"4 000000000016B3F0 node-3.example\n");
	char tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	assert_int_equal(access(tmp, F_OK), -1);
	epochs_free(&h);
	assert_null(h.v);
	assert_int_equal(h.n, 0);

	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.v[0].epoch, 1);
	assert_int_equal(h.v[0].start_lsn, 0);
	assert_string_equal(h.v[0].leader, "node1");
	assert_int_equal(h.v[1].epoch, 3);
	assert_int_equal(h.v[1].start_lsn, 0x16B3F0);
	assert_string_equal(h.v[2].leader, "node-3.example");
	assert_int_equal(epochs_append(&h, UINT64_MAX, UINT64_MAX, "last"), 0);
	epochs_free(&h);
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(h.n, 4);
	assert_int_equal(h.v[3].epoch, UINT64_MAX);
	assert_int_equal(h.v[3].start_lsn, UINT64_MAX);
	epochs_free(&h);
}

static void test_refused_appends(void **state)
{
	struct fixture *f = *state;
	struct epochs h;
	char leader[EPOCHS_LEADER_MAX + 1];
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(epochs_append(&h, 0, 0, "a"), SL_EINVAL); /* epochs start at 1 */
	assert_int_equal(epochs_append(&h, 5, 100, "a"), 0);
	const char *before = "5 0000000000000064 a\n";
	assert_int_equal(epochs_append(&h, 5, 200, "a"), SL_EINVAL);
	assert_int_equal(epochs_append(&h, 4, 200, "a"), SL_EINVAL);
	assert_int_equal(epochs_append(&h, 6, 99, "a"), SL_EINVAL);
	assert_int_equal(epochs_append(&h, 6, 200, ""), SL_EINVAL);
	assert_int_equal(epochs_append(&h, 6, 200, "two words"), SL_EINVAL);
	assert_int_equal(epochs_append(&h, 6, 200, "tab\there"), SL_EINVAL);
	assert_int_equal(epochs_append(&h, 6, 200, "new\nline"), SL_EINVAL);
	assert_int_equal(epochs_append(&h, 6, 200, "caf\xc3\xa9"), SL_EINVAL);
	assert_int_equal(epochs_append(&h, 6, 200, NULL), SL_EINVAL);
	memset(leader, 'x', EPOCHS_LEADER_MAX);
	leader[EPOCHS_LEADER_MAX] = '\0';
	assert_int_equal(epochs_append(&h, 6, 200, leader), SL_EINVAL); /* 64 bytes */
	assert_int_equal(h.n, 1);
	assert_string_equal(read_file(f->path), before);
	leader[EPOCHS_LEADER_MAX - 1] = '\0';
	assert_int_equal(epochs_append(&h, 6, 100, leader), 0); /* 63 bytes, same start */
	assert_int_equal(h.n, 2);
	epochs_free(&h);

	/* A write that cannot happen leaves the list as it was. */
	char bad[PATH_MAX + 32];
	snprintf(bad, sizeof(bad), "%s/no-such-dir/epochs", f->dir);
	assert_int_equal(epochs_load(&h, bad, f->err, sizeof(f->err)), 0);
	assert_int_equal(epochs_append(&h, 1, 0, "a"), SL_EIO);
	assert_int_equal(h.n, 0);
	epochs_free(&h);
	/* An unloaded (zeroed) history has no file to write. */
	memset(&h, 0, sizeof(h));
	assert_int_equal(epochs_append(&h, 1, 0, "a"), SL_EINVAL);
}

static void test_bad_lines(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *text;
		unsigned line;
		size_t len; /* 0: strlen */
	} cases[] = {
		{ "0 0000000000000000 a\n", 1, 0 },
		{ "01 0000000000000000 a\n", 1, 0 },
		{ "-1 0000000000000000 a\n", 1, 0 },
		{ "+1 0000000000000000 a\n", 1, 0 },
		{ "18446744073709551616 0000000000000000 a\n", 1, 0 },
		{ "x 0000000000000000 a\n", 1, 0 },
		{ "1 000000000000000 a\n", 1, 0 },
		{ "1 00000000000000000 a\n", 1, 0 },
		{ "1 0/0 a\n", 1, 0 },
		{ "1 000000000000000G a\n", 1, 0 },
		{ "1 0000000000000000\n", 1, 0 },
		{ "1 0000000000000000 \n", 1, 0 },
		{ "1  0000000000000000 a\n", 1, 0 },
		{ "1 0000000000000000  a\n", 1, 0 },
		{ "1\t0000000000000000 a\n", 1, 0 },
		{ "1 0000000000000000 a b\n", 1, 0 },
		{ "1 0000000000000000 a \n", 1, 0 },
		{ "1 0000000000000000 a\r\n", 1, 0 },
		{ " 1 0000000000000000 a\n", 1, 0 },
		{ "\n", 1, 0 },
		{ "1 0000000000000000 a", 1, 0 },
		{ "1 0000000000000000 a\n2 0000000000000010 b", 2, 0 },
		{ "1 0000000000000000 a\n\n", 2, 0 },
		{ "1 0000000000000000 a\n# comment\n", 2, 0 },
		{ "2 0000000000000000 a\n2 0000000000000010 b\n", 2, 0 },
		{ "2 0000000000000000 a\n1 0000000000000010 b\n", 2, 0 },
		{ "1 0000000000000010 a\n2 000000000000000F b\n", 2, 0 },
		{ "1 0000000000000000 a\n2 0000000000000010 b\n3 0000000000000020 "
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
		  3, 0 },
		{ "1 0000000000000000 a\0b\n", 1, 23 }, /* a NUL in the leader */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct epochs h;
		char want[64];
		FILE *fp = fopen(f->path, "wb");
		assert_non_null(fp);
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		assert_int_equal(fwrite(cases[i].text, 1, len, fp), len);
		fclose(fp);
		f->err[0] = '\0';
		int rc = epochs_load(&h, f->path, f->err, sizeof(f->err));
		snprintf(want, sizeof(want), ", line %u: ", cases[i].line);
		if (rc != SL_ECORRUPT || !strstr(f->err, want) || !strstr(f->err, f->path))
			fail_msg("case %zu: want SL_ECORRUPT at line %u, got %s: %s", i, cases[i].line, sl_strerror(rc),
				 f->err);
		assert_null(h.v);
		assert_null(h.path);
	}
	/* Lower-case hex is read; the largest values are fine. */
	struct epochs h;
	write_file(f->path, "1 00000000000000ab a\n18446744073709551615 FFFFFFFFFFFFFFFF b\n");
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(h.v[0].start_lsn, 0xAB);
	assert_int_equal(h.v[1].epoch, UINT64_MAX);
	epochs_free(&h);
	write_file(f->path, "");
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(h.n, 0);
	epochs_free(&h);
}

/* ---------------------------------------------------------------- verdicts */

static void expect_verdict(const struct epochs *h, uint64_t our_end, uint64_t e, uint64_t lsn,
			   enum epochs_verdict want, uint64_t want_diverge)
{
	uint64_t d = 12345;
	enum epochs_verdict v = epochs_check(h, our_end, e, lsn, &d);
	if (v != want)
		fail_msg("(%llu, %llu): verdict %d, want %d", (unsigned long long)e, (unsigned long long)lsn, v, want);
	if (want == EPOCHS_DIVERGED)
		assert_int_equal(d, want_diverge);
	else
		assert_int_equal(d, 12345); /* untouched */
	assert_int_equal(epochs_check(h, our_end, e, lsn, NULL), want);
}

static void test_verdicts(void **state)
{
	struct fixture *f = *state;
	struct epochs h;
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);

	/* An empty history: only "no records yet" up to our end is ours. */
	expect_verdict(&h, 100, 0, 0, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, 100, 0, 100, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, 100, 0, 101, EPOCHS_AHEAD, 0);
	expect_verdict(&h, 100, 1, 0, EPOCHS_AHEAD, 0);

	assert_int_equal(epochs_append(&h, 1, 0, "a"), 0);
	assert_int_equal(epochs_append(&h, 3, 1000, "b"), 0);
	assert_int_equal(epochs_append(&h, 5, 3000, "c"), 0);
	const uint64_t end = 5000;

	/* Newer than ours. */
	expect_verdict(&h, end, 6, 0, EPOCHS_AHEAD, 0);
	expect_verdict(&h, end, UINT64_MAX, 10000, EPOCHS_AHEAD, 0);
	/* Our newest epoch: a prefix of ours, or more of it. */
	expect_verdict(&h, end, 5, 3000, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, end, 5, 4000, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, end, 5, 5000, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, end, 5, 5001, EPOCHS_AHEAD, 0);
	/* An older epoch of ours: up to where we moved on, else diverged there. */
	expect_verdict(&h, end, 3, 2000, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, end, 3, 3000, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, end, 3, 3001, EPOCHS_DIVERGED, 3000);
	expect_verdict(&h, end, 3, 9000, EPOCHS_DIVERGED, 3000);
	expect_verdict(&h, end, 1, 500, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, end, 1, 1000, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, end, 1, 1500, EPOCHS_DIVERGED, 1000);
	/* An epoch we never had. */
	expect_verdict(&h, end, 2, 1500, EPOCHS_DIVERGED, 1000);
	expect_verdict(&h, end, 2, 800, EPOCHS_DIVERGED, 800);
	expect_verdict(&h, end, 4, 2500, EPOCHS_DIVERGED, 2500);
	expect_verdict(&h, end, 4, 3500, EPOCHS_DIVERGED, 3000);
	/* No records yet: ours up to where our first epoch starts. */
	expect_verdict(&h, end, 0, 0, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, end, 0, 10, EPOCHS_DIVERGED, 0);
	epochs_free(&h);

	/* A first epoch that starts later leaves room before it. */
	unlink(f->path);
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(epochs_append(&h, 2, 500, "a"), 0);
	expect_verdict(&h, 900, 0, 500, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, 900, 0, 501, EPOCHS_DIVERGED, 500);
	expect_verdict(&h, 900, 1, 700, EPOCHS_DIVERGED, 500);
	expect_verdict(&h, 900, 1, 300, EPOCHS_DIVERGED, 300);
	expect_verdict(&h, 900, 2, 900, EPOCHS_ON_HISTORY, 0);
	expect_verdict(&h, 900, 2, 901, EPOCHS_AHEAD, 0);
	epochs_free(&h);
}

static void expect_parting(const struct epochs *ours, const struct epoch_entry *theirs, size_t n,
			   enum epochs_parting want, uint64_t want_at)
{
	uint64_t at = 12345;
	assert_int_equal(epochs_compare(ours, theirs, n, &at), want);
	if (want == EPOCHS_PART)
		assert_int_equal(at, want_at);
	else
		assert_int_equal(at, 12345); /* untouched */
}

static void test_compare(void **state)
{
	struct fixture *f = *state;
	struct epochs h;
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	const struct epoch_entry none[1] = { { 0 } };
	/* nothing is a prefix of anything */
	expect_parting(&h, none, 0, EPOCHS_SAME, 0);
	assert_int_equal(epochs_append(&h, 1, 0, "a"), 0);
	assert_int_equal(epochs_append(&h, 2, 1000, "b"), 0);
	expect_parting(&h, none, 0, EPOCHS_NEWER, 0);

	/* equal, and a prefix of a longer one */
	const struct epoch_entry same[] = { { 1, 0, "a" }, { 2, 1000, "b" }, { 3, 2000, "c" } };
	expect_parting(&h, same, 2, EPOCHS_SAME, 0);
	expect_parting(&h, same, 3, EPOCHS_SAME, 0);
	/* theirs stops first: ours knows a newer epoch */
	expect_parting(&h, same, 1, EPOCHS_NEWER, 0);
	/* a branch: epoch 2 started by another node, later or earlier */
	const struct epoch_entry later[] = { { 1, 0, "a" }, { 2, 1500, "c" }, { 3, 2000, "c" } };
	expect_parting(&h, later, 3, EPOCHS_PART, 1000);
	const struct epoch_entry earlier[] = { { 1, 0, "a" }, { 2, 700, "c" } };
	expect_parting(&h, earlier, 2, EPOCHS_PART, 700);
	/* the same place, another leader */
	const struct epoch_entry other[] = { { 1, 0, "a" }, { 2, 1000, "x" } };
	expect_parting(&h, other, 2, EPOCHS_PART, 1000);
	/* an epoch we skipped: theirs has 2 at 800, then 3 */
	const struct epoch_entry skipped[] = { { 1, 0, "a" }, { 3, 800, "x" } };
	expect_parting(&h, skipped, 2, EPOCHS_PART, 800);
	/* from the very start */
	const struct epoch_entry fresh[] = { { 1, 0, "z" } };
	expect_parting(&h, fresh, 1, EPOCHS_PART, 0);
	epochs_free(&h);
}

static void test_replace(void **state)
{
	struct fixture *f = *state;
	struct epochs h;
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(epochs_append(&h, 1, 0, "a"), 0);
	assert_int_equal(epochs_append(&h, 2, 1000, "b"), 0);
	const struct epoch_entry bad_order[] = { { 1, 0, "a" }, { 3, 900, "c" }, { 2, 1000, "d" } };
	assert_int_equal(epochs_replace(&h, bad_order, 3), SL_EINVAL);
	const struct epoch_entry bad_name[] = { { 1, 0, "a b" } };
	assert_int_equal(epochs_replace(&h, bad_name, 1), SL_EINVAL);
	assert_int_equal(epochs_replace(&h, bad_name, 0), SL_EINVAL);
	assert_string_equal(read_file(f->path), "1 0000000000000000 a\n2 00000000000003E8 b\n");
	assert_int_equal(h.n, 2);

	const struct epoch_entry theirs[] = { { 1, 0, "a" }, { 2, 700, "c" }, { 4, 2000, "d" } };
	assert_int_equal(epochs_replace(&h, theirs, 3), 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(epochs_current(&h), 4);
	assert_string_equal(read_file(f->path),
			    "1 0000000000000000 a\n2 00000000000002BC c\n4 00000000000007D0 d\n");
	epochs_free(&h);
	assert_int_equal(epochs_load(&h, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.v[1].start_lsn, 700);
	assert_string_equal(h.v[2].leader, "d");
	epochs_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_append_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compare, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
