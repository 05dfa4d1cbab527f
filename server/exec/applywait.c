/*
 * applywait.c — remote_apply jobs waiting for the standbys to apply
 * their commit (see applywait.h).
 *
 * The parked jobs form a queue in commit order under one mutex; the
 * thread waits (syncrep_wait) for the oldest one's LSN, then hands back
 * every job the standbys have applied. The probe, called while it waits,
 * answers jobs whose client gave up and ends the wait when the oldest job
 * left the queue, so the thread looks again.
 */
#include "applywait.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "commitreply.h"
#include "pgwire.h"

struct applywait {
	struct syncrep *sr;
	void (*done)(void *arg, struct job *j);
	void *arg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct job_queue parked; /* oldest commit first */
	struct job *waited;      /* the head the thread waits for */
	bool stop;
};

/* While the thread waits: answer the jobs whose client gave up. */
static bool probe(void *arg)
{
	struct applywait *aw = arg;
	int64_t now = monotonic_ns();
	pthread_mutex_lock(&aw->mu);
	struct job *prev = NULL, *next;
	for (struct job *j = aw->parked.head; j; j = next) {
		next = j->next;
		if (!atomic_load(&j->intr.cancel) && !(j->intr.deadline_ns && now > j->intr.deadline_ns)) {
			prev = j;
			continue;
		}
		job_queue_remove(&aw->parked, j, prev);
		commitreply_cancelled(j);
		aw->done(aw->arg, j);
	}
	bool look_again = aw->stop || aw->parked.head != aw->waited;
	pthread_mutex_unlock(&aw->mu);
	return look_again;
}

/* Hands back, in order, the parked jobs whose commit is at or before lsn. */
static void hand_back(struct applywait *aw, uint64_t lsn, enum syncrep_result res)
{
	pthread_mutex_lock(&aw->mu);
	while (aw->parked.head && aw->parked.head->commit_lsn <= lsn) {
		struct job *j = job_queue_pop(&aw->parked);
		commitreply_done(j, j->commit_lsn, res);
		aw->done(aw->arg, j);
	}
	pthread_mutex_unlock(&aw->mu);
}

static void *apply_main(void *arg)
{
	struct applywait *aw = arg;
	pthread_mutex_lock(&aw->mu);
	while (!aw->stop) {
		if (!aw->parked.head) {
			pthread_cond_wait(&aw->cond, &aw->mu);
			continue;
		}
		aw->waited = aw->parked.head;
		uint64_t lsn = aw->waited->commit_lsn;
		pthread_mutex_unlock(&aw->mu);
		enum syncrep_result res = syncrep_wait(aw->sr, lsn, SYNC_REMOTE_APPLY, probe, aw);
		if (res == SYNCREP_CONFIRMED) {
			/* lsn, and whatever else was applied meanwhile */
			uint64_t applied = syncrep_confirmed(aw->sr, SYNC_REMOTE_APPLY);
			hand_back(aw, applied > lsn ? applied : lsn, res);
		}
		else if (res == SYNCREP_DEGRADED)
			hand_back(aw, lsn, res); /* with the WARNING: not applied in time */
		pthread_mutex_lock(&aw->mu);
		if ((res == SYNCREP_STOPPED || res == SYNCREP_DEPOSED) && aw->parked.head == aw->waited && !aw->stop)
			pthread_cond_wait(&aw->cond, &aw->mu); /* the server stops: until applywait_stop */
	}
	pthread_mutex_unlock(&aw->mu);
	return NULL;
}

struct applywait *applywait_start(struct syncrep *sr, void (*done)(void *arg, struct job *j), void *arg)
{
	struct applywait *aw = calloc(1, sizeof(*aw));
	if (!aw)
		return NULL;
	aw->sr = sr;
	aw->done = done;
	aw->arg = arg;
	pthread_mutex_init(&aw->mu, NULL);
	pthread_cond_init(&aw->cond, NULL);
	if (pthread_create(&aw->thread, NULL, apply_main, aw) != 0) {
		pthread_mutex_destroy(&aw->mu);
		pthread_cond_destroy(&aw->cond);
		free(aw);
		return NULL;
	}
	return aw;
}

void applywait_park(struct applywait *aw, struct job *j, uint64_t lsn)
{
	j->commit_lsn = lsn;
	pthread_mutex_lock(&aw->mu);
	job_queue_push(&aw->parked, j);
	pthread_cond_signal(&aw->cond);
	pthread_mutex_unlock(&aw->mu);
}

void applywait_stop(struct applywait *aw)
{
	if (!aw)
		return;
	pthread_mutex_lock(&aw->mu);
	aw->stop = true;
	pthread_cond_signal(&aw->cond);
	pthread_mutex_unlock(&aw->mu);
	pthread_join(aw->thread, NULL); /* the caller has ended syncrep's waits */
	struct job *j;
	while ((j = job_queue_pop(&aw->parked))) {
		commitreply_done(j, j->commit_lsn, SYNCREP_STOPPED);
		aw->done(aw->arg, j);
	}
	pthread_mutex_destroy(&aw->mu);
	pthread_cond_destroy(&aw->cond);
	free(aw);
}
