/*
 * config.h — sluiced's settings: one table drives the file parser, command
 * line overrides, --help, SHOW and the docs.
 *
 * The file format is postgresql.conf's: `key = value` per line, `#` starts a
 * comment, values may be quoted with single quotes. Durations take units
 * (us, ms, s, min, h, d; a bare number means the setting's own unit),
 * sizes take units (B, kB, MB, GB, TB; powers of 1024). An unknown key or a
 * bad or out-of-range value is an error naming the file and line.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_STR_MAX 1024

enum config_role { ROLE_LEADER = 0, ROLE_FOLLOWER = 1, ROLE_WITNESS = 2 };
enum config_auth { AUTH_TRUST = 0, AUTH_PASSWORD = 1, AUTH_SCRAM = 2 };
/* What a COMMIT waits for before it is answered (synchronous_commit). */
enum config_sync_commit { SYNC_LOCAL = 0, SYNC_REMOTE_WRITE = 1, SYNC_ON = 2, SYNC_REMOTE_APPLY = 3 };
enum config_sync_fallback { SYNC_FALLBACK_BLOCK = 0, SYNC_FALLBACK_ASYNC = 1 };
enum config_tls_version { CONFIG_TLS_1_2 = 0, CONFIG_TLS_1_3 = 1 };

struct config {
	char listen_address[CONFIG_STR_MAX]; /* "127.0.0.1" */
	int port;                            /* 5433; 0 = any free port */
	char data_dir[CONFIG_STR_MAX];       /* "" = must be given */
	char node_name[CONFIG_STR_MAX];      /* "" = derived from host:port */
	int role;                            /* enum config_role */
	int max_connections;                 /* 100 */
	int reader_threads;                  /* 2 */
	int max_reader_threads;              /* 32: more start while every reader is busy */
	int64_t max_message_size;            /* bytes, 64MB */
	int64_t checkpoint_wal_size;         /* bytes, 64MB */
	int log_mode;                        /* TXNREC_PHYSICAL | TXNREC_LOGICAL bits, 0 = off; physical */
	int commit_batch_size;               /* 256; 1 = no batching */
	int log_compression;                 /* bool, off */
	int64_t log_segment_size;            /* bytes, 64MB */
	int64_t log_keep_size;               /* bytes, 1GB */
	int64_t max_log_size;                /* bytes, 16GB; 0 = no cap */
	int64_t max_slot_lag;                /* bytes, 1GB; a CDC slot further behind is lost; 0 = no bound */
	int64_t statement_timeout_ms;        /* 0 = none */
	int64_t idle_in_transaction_session_timeout_ms; /* 60000; 0 = none */
	int64_t authentication_timeout_ms;  /* 60000 */
	int64_t lock_timeout_ms;             /* 0 = wait forever */
	int auth_method;                     /* enum config_auth */
	char password_file[CONFIG_STR_MAX];  /* "" = none */
	char admin_users[CONFIG_STR_MAX];    /* "" = none (under trust: everyone); "a, b" */
	int ssl;                             /* bool, off: TLS on the client port */
	int ssl_required;                    /* bool, off: refuse clients without TLS (28000) */
	char ssl_cert_file[CONFIG_STR_MAX];  /* PEM certificate chain */
	char ssl_key_file[CONFIG_STR_MAX];   /* PEM private key, 0600 */
	char ssl_ca_file[CONFIG_STR_MAX];    /* "" = no client certificates asked for */
	int ssl_min_protocol_version;        /* enum config_tls_version, TLSv1.2 */
	int peer_ssl;                        /* bool, off: TLS on peer links, both sides verified */
	int log_level;                       /* enum log_level */
	char port_file[CONFIG_STR_MAX];      /* "" = none; the bound port is written here */
	char peer_listen[CONFIG_STR_MAX];    /* "" = no peer port; "host:port" */
	char peer_port_file[CONFIG_STR_MAX]; /* "" = none; the bound peer port is written here */
	char leader_peer[CONFIG_STR_MAX];    /* follower: the leader's peer "host:port" */
	char peers[CONFIG_STR_MAX];          /* "" = none; "name@host:port, ..." (members.h) */
	char cluster_id[CONFIG_STR_MAX];     /* "sluice" */
	char cluster_secret[CONFIG_STR_MAX]; /* "" = none (no peer links) */
	int stream_compression;              /* bool, off */
	int64_t max_standby_delay_ms;        /* 30000 */
	int64_t replication_timeout_ms;      /* 10000 */
	int synchronous_commit;              /* enum config_sync_commit, on */
	char synchronous_standbys[CONFIG_STR_MAX]; /* "" = none; "FIRST k (a, b)" / "ANY k (a, b)" */
	int64_t synchronous_timeout_ms;      /* 10000 */
	int synchronous_fallback;            /* enum config_sync_fallback, block */
	int64_t max_replica_lag_ms;          /* 0 = no limit */
	int64_t switchover_timeout_ms;       /* 10000 */
	int64_t follower_retention_timeout_ms; /* 0 = a disconnected follower holds the log for ever */
	int failover;                        /* bool, on: elections when `peers` names 3 or more voters */
	int failover_priority;               /* 100; 0 = never leads */
	int64_t heartbeat_interval_ms;       /* 100 */
	int64_t lease_timeout_ms;            /* 600 */
	int64_t failover_timeout_ms;         /* 1000 */
};

/* What SHOW and config_show say of a cluster_secret that is set. */
#define CONFIG_SECRET_SHOWN "********"

/* Fills every field with its default. */
void config_defaults(struct config *cfg);

/*
 * Sets one setting from its text form. Returns 0, or SL_EINVAL with a
 * message in err (e.g. `invalid value for "port": "x"`).
 */
int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen);

/*
 * Reads a config file. Returns 0, or SL_EINVAL / SL_EIO with a message in
 * err that names the file and line: `sluice.conf:12: unknown setting "prot"`.
 */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/*
 * Writes the current value of a setting in its canonical text form (with
 * unit, e.g. "60s", "64MB", "leader"). Returns 0 or SL_ENOTFOUND.
 */
int config_show(const struct config *cfg, const char *name, char *out, size_t outlen);

/* Calls fn for every setting in table order (for SHOW ALL). */
void config_foreach(const struct config *cfg,
		    void (*fn)(void *arg, const char *name, const char *value, const char *help),
		    void *arg);

/* Prints every setting with its default and help, for --help. */
void config_print_help(FILE *out);

#endif
