/*
 * replay_main.c — a plain main() that runs a fuzz target's corpus, so every
 * `make check` replays it without libFuzzer.
 *
 *   replay_X FILE...   runs each FILE (a directory: each file in it)
 *   replay_X           runs every file in $FUZZ_CORPUS/X, where X is the
 *                      target name taken from the program name replay_X
 *                      (default "pgwire")
 *
 * Each input is read into an exact-size allocation so that ASan catches a
 * read past its end. Files run in name order. Prints "replayed N inputs"
 * and exits 0; exits 1 if an input cannot be read or if nothing was run (a
 * missing or empty corpus must not pass). With REPLAY_VERBOSE set, names
 * each file before running it, to find the one that crashes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define DEFAULT_TARGET "pgwire"

static int run_file(const char *path, int verbose)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	uint8_t *data = NULL;
	size_t size = 0;
	int rc = -1;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
		fprintf(stderr, "replay: cannot stat %s: %s\n", path, strerror(errno));
		goto fail;
	}
	size = (size_t)st.st_size;
	data = malloc(size ? size : 1);
	if (!data) {
		fprintf(stderr, "replay: out of memory for %s\n", path);
		goto fail;
	}
	if (size && fread(data, 1, size, f) != size) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		goto fail;
	}
	if (verbose)
		fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
	LLVMFuzzerTestOneInput(data, size);
	rc = 0;
fail:
	free(data);
	fclose(f);
	return rc;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file in dir; returns how many, or -1. */
static long run_dir(const char *dir, int verbose)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: cannot open corpus %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	long count = -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **more = realloc(names, cap * sizeof(*names));
			if (!more) {
				fprintf(stderr, "replay: out of memory listing %s\n", dir);
				goto fail;
			}
			names = more;
		}
		size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
		if (!(names[n] = malloc(len))) {
			fprintf(stderr, "replay: out of memory listing %s\n", dir);
			goto fail;
		}
		snprintf(names[n], len, "%s/%s", dir, e->d_name);
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), compare_names);
	count = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (run_file(names[i], verbose) != 0) {
			count = -1;
			break;
		}
		count++;
	}
fail:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return count;
}

/* "replay_pgwire" (any directory, any extension-free name) → "pgwire". */
static const char *target_name(const char *argv0)
{
	const char *base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	if (strncmp(base, "replay_", 7) == 0 && base[7] != '\0')
		return base + 7;
	return DEFAULT_TARGET;
}

int main(int argc, char **argv)
{
	int verbose = getenv("REPLAY_VERBOSE") != NULL;
	long total = 0;
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			struct stat st;
			long n;
			if (stat(argv[i], &st) != 0) {
				fprintf(stderr, "replay: cannot stat %s: %s\n", argv[i], strerror(errno));
				return 1;
			}
			if (S_ISDIR(st.st_mode))
				n = run_dir(argv[i], verbose);
			else
				n = run_file(argv[i], verbose) == 0 ? 1 : -1;
			if (n < 0)
				return 1;
			total += n;
		}
	} else {
		const char *corpus = getenv("FUZZ_CORPUS");
		if (!corpus || !*corpus) {
			fprintf(stderr, "replay: FUZZ_CORPUS is not set (want the directory holding %s/)\n",
				target_name(argv[0]));
			return 1;
		}
		size_t len = strlen(corpus) + 1 + strlen(target_name(argv[0])) + 1;
		char *dir = malloc(len);
		if (!dir)
			return 1;
		snprintf(dir, len, "%s/%s", corpus, target_name(argv[0]));
		total = run_dir(dir, verbose);
		if (total == 0)
			fprintf(stderr, "replay: corpus %s is empty\n", dir);
		free(dir);
	}
	if (total <= 0) {
		if (total == 0)
			fprintf(stderr, "replay: no inputs run\n");
		return 1;
	}
	printf("replayed %ld inputs\n", total);
	return 0;
}
