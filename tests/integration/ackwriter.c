/*
 * ackwriter.c — inserts numbered rows one autocommit INSERT at a time and
 * prints each number only once the server has acknowledged it, for the
 * crash and disk fault tests.
 *
 *   ackwriter CONNINFO CLIENT_ID START [--count N] [--table NAME]
 *                                      [--payload BYTES]
 *
 * Creates (IF NOT EXISTS) the table NAME (default acks):
 *   acks(client INTEGER, seq INTEGER, PRIMARY KEY (client, seq))
 * or, with --payload, the same plus a column pad BLOB that each INSERT
 * fills with BYTES random bytes. Then inserts (CLIENT_ID, START),
 * (CLIENT_ID, START + 1), ... each in its own statement, and after the
 * server answered an INSERT with success (CommandComplete "INSERT 0 1"),
 * prints its seq on stdout, flushed, one per line. Nothing else goes to
 * stdout, so stdout is exactly the list of acknowledged rows.
 *
 * Exit status:
 *   0  --count rows inserted
 *   1  wrong command line, or the first connection failed
 *   2  the connection broke (server gone, or a FATAL error); the last
 *      statement's outcome is unknown
 *   3  the server answered an INSERT with an ERROR and the connection is
 *      still up; the SQLSTATE is on stderr
 * stderr gets one line at the end: "ackwriter CLIENT: exit=... acked=N
 * last=SEQ sqlstate=XXXXX message".
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * With the extended protocol, libpq's result for a FATAL error followed by
 * the close says only "server closed the connection unexpectedly"; the
 * server's message ("FATAL:  58030: ...", verbose) is in PQerrorMessage.
 */
static const char *state_from_text(const char *msg)
{
	static char state[6];
	for (const char *p = msg; *p; p++) {
		if (strncmp(p, "FATAL:  ", 8) != 0 && strncmp(p, "ERROR:  ", 8) != 0)
			continue;
		if (strspn(p + 8, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= 5 && p[13] == ':') {
			memcpy(state, p + 8, 5);
			return state;
		}
	}
	return "";
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ackwriter CONNINFO CLIENT_ID START [--count N] [--table NAME] [--payload BYTES]\n");
	exit(1);
}

static int64_t number(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		usage();
	const char *conninfo = argv[1];
	int64_t client = number(argv[2]);
	int64_t seq = number(argv[3]);
	int64_t count = -1, payload = 0;
	const char *table = "acks";
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = number(argv[++i]);
		else if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
			table = argv[++i];
		else if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc)
			payload = number(argv[++i]);
		else
			usage();
	}
	if (strspn(table, "abcdefghijklmnopqrstuvwxyz_0123456789") != strlen(table) || payload < 0)
		usage();

	PGconn *c = PQconnectdb(conninfo);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "ackwriter %" PRId64 ": exit=1 cannot connect: %s\n", client,
			c ? PQerrorMessage(c) : "out of memory");
		return 1;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	PQsetErrorVerbosity(c, PQERRORS_VERBOSE);

	char create[256], insert[256];
	snprintf(create, sizeof(create), "CREATE TABLE IF NOT EXISTS %s (client INTEGER, seq INTEGER, %sPRIMARY KEY (client, seq))",
		 table, payload ? "pad BLOB, " : "");
	if (payload)
		snprintf(insert, sizeof(insert), "INSERT INTO %s (client, seq, pad) VALUES ($1, $2, randomblob(%" PRId64 "))",
			 table, payload);
	else
		snprintf(insert, sizeof(insert), "INSERT INTO %s (client, seq) VALUES ($1, $2)", table);

	int64_t acked = 0, last = -1;
	int rc = 0;
	const char *state = "", *msg = "";
	PGresult *res = PQexec(c, create);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		msg = PQresultErrorMessage(res);
		rc = PQstatus(c) == CONNECTION_OK ? 3 : 2;
		goto out;
	}
	PQclear(res);
	res = NULL;

	for (; count < 0 || acked < count; seq++) {
		char a[32], b[32];
		snprintf(a, sizeof(a), "%" PRId64, client);
		snprintf(b, sizeof(b), "%" PRId64, seq);
		const char *vals[2] = { a, b };
		res = PQexecParams(c, insert, 2, NULL, vals, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "INSERT 0 1") == 0 &&
		    PQstatus(c) == CONNECTION_OK) {
			printf("%" PRId64 "\n", seq);
			fflush(stdout);
			acked++;
			last = seq;
			PQclear(res);
			res = NULL;
			continue;
		}
		state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		msg = res ? PQresultErrorMessage(res) : "";
		const char *sev = res ? PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;
		bool fatal = sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
		rc = PQstatus(c) == CONNECTION_OK && !fatal ? 3 : 2;
		break;
	}
out:
	if (!state || !*state) {
		/* libpq's connection message has the server's FATAL, if any */
		msg = PQerrorMessage(c);
		state = state_from_text(msg);
	}
	char line[512];
	snprintf(line, sizeof(line), "%s", msg);
	for (char *p = line; *p; p++)
		if (*p == '\n')
			*p = ' ';
	fprintf(stderr, "ackwriter %" PRId64 ": exit=%d acked=%" PRId64 " last=%" PRId64 " sqlstate=%s %s\n", client,
		rc, acked, last, state, line);
	PQclear(res);
	PQfinish(c);
	return rc;
}
