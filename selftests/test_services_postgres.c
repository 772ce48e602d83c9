// SPDX-License-Identifier: MIT
/*
 * A real service (issue 19): PostgreSQL (Debian's postgresql), a postmaster
 * and its five auxiliary processes (checkpointer, background writer, WAL
 * writer, autovacuum and logical replication launchers), each in a process
 * group of its own, running as user postgres; shared buffers in shared
 * anonymous memory, a SysV interlock segment (not marked IPC_RMID: the dump
 * leaves it behind, restore/shmem_sysv_left.h), latches on self-pipes and
 * epoll, a TCP and a unix listener. A table and a sequence made before the
 * checkpoint (eager, lazy, pre-dump chain) are there after the restore, the
 * sequence goes on, and a new connection (a backend forked by the restored
 * postmaster) writes and reads.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "services_helpers.h"

TestSuite(services_postgres, .timeout = 180);

#define PSQL "/usr/bin/psql"
#define MAX_CHILDREN 16

struct pg {
	struct t_tree t;
	int port;
	char bin[512], data[700];
	pid_t children[MAX_CHILDREN];
	int nr_children;
};

/* psql -At @sql as user postgres over TCP; its output (malloc'd), exit 0 required. */
static char *psql(struct pg *p, const char *sql)
{
	char *out = NULL, *err = NULL;
	int rc = t_run(&out, &err, "%s -X -At -h 127.0.0.1 -p %d -U postgres -c \"%s\"", PSQL,
		       p->port, sql);

	cr_assert_eq(rc, 0, "psql %s: %s", sql, err ? err : "");
	free(err);
	cr_assert_not_null(out);
	return out;
}

static void psql_expect(struct pg *p, const char *sql, const char *want)
{
	char *out = psql(p, sql);

	cr_assert_str_eq(out, want, "psql %s: '%s', not '%s'", sql, out, want);
	free(out);
}

/* postgres (not as root: it refuses) in its own process group, output to t->out. */
static pid_t spawn_postgres(struct pg *p, const struct passwd *pw)
{
	char port[16], sock[16] = "-k";
	pid_t pid = fork();

	if (pid)
		return pid;
	int out = open(p->t.out, O_WRONLY | O_CREAT | O_APPEND, 0644);
	int in = open("/dev/null", O_RDONLY);

	if (out < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	syscall(SYS_close_range, 3, ~0u, 0);
	setpgid(0, 0);
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
		_exit(125);
	snprintf(port, sizeof(port), "%d", p->port);
	execl(p->bin, p->bin, "-D", p->data, "-p", port, sock, p->t.dir, "-c",
	      "listen_addresses=127.0.0.1", "-c", "shared_buffers=16MB", "-c", "fsync=off",
	      (char *)NULL);
	_exit(127);
}

static void pg_start(struct pg *p)
{
	struct passwd *pw = getpwnam("postgres");
	char *err = NULL, path[128], *text, *tok, *save = NULL;
	glob_t g;
	int rc;

	if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) || !g.gl_pathc)
		cr_skip_test("PostgreSQL is not installed (Debian package postgresql)");
	svc_program(PSQL, "postgresql-client");
	cr_assert_not_null(pw, "no user postgres");
	memset(p, 0, sizeof(*p));
	t_tree_init(&p->t);
	snprintf(p->bin, sizeof(p->bin), "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	cr_assert_eq(chown(p->t.dir, pw->pw_uid, pw->pw_gid), 0);
	snprintf(p->data, sizeof(p->data), "%s/data", p->t.dir);
	rc = t_run(NULL, &err, "runuser -u postgres -- %.*s/initdb -D %s -A trust --no-sync",
		   (int)(strlen(p->bin) - strlen("/postgres")), p->bin, p->data);
	cr_assert_eq(rc, 0, "initdb: %s", err ? err : "");
	free(err);
	p->port = svc_free_port();
	p->t.name = "postgres";
	p->t.pid = spawn_postgres(p, pw);
	cr_assert_gt(p->t.pid, 0);
	text = t_wait_line(p->t.out, "database system is ready to accept connections", 30000);
	if (!text)
		cr_assert_fail("postgres never got ready: %s", t_read_file(p->t.out, NULL));
	free(text);
	psql_expect(p,
		    "CREATE TABLE t AS SELECT g AS a, md5(g::text) AS h FROM "
		    "generate_series(1, 100000) g; CREATE SEQUENCE s; SELECT nextval('s')",
		    "SELECT 100000\nCREATE SEQUENCE\n1\n");
	/* The auxiliary processes, each in a group of its own: reaped by us after the dump. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", p->t.pid, p->t.pid);
	text = t_read_file(path, NULL);
	cr_assert_not_null(text);
	for (tok = strtok_r(text, " \n", &save); tok && p->nr_children < MAX_CHILDREN;
	     tok = strtok_r(NULL, " \n", &save))
		p->children[p->nr_children++] = atoi(tok);
	free(text);
	cr_assert_geq(p->nr_children, 4, "postgres has %d children", p->nr_children);
	p->t.child = p->children[0];
}

static void pg_verify(struct pg *p, int next)
{
	char want[32];

	psql_expect(p,
		    "SELECT count(*), sum(a), md5(string_agg(h, ',' ORDER BY a)) = "
		    "md5(string_agg(md5(a::text), ',' ORDER BY a)) FROM t",
		    "100000|5000050000|t\n");
	snprintf(want, sizeof(want), "%d\n", next);
	psql_expect(p, "SELECT nextval('s')", want);
	psql_expect(p, "INSERT INTO t VALUES (0, 'after'); SELECT count(*) FROM t",
		    "INSERT 0 1\n100001\n");
}

/* Kill the tree, reap the children we adopted, remove the SysV interlock the tree leaves. */
static void pg_stop(struct pg *p)
{
	char path[800], *text, *line;
	int key = 0, id = -1;

	snprintf(path, sizeof(path), "%s/postmaster.pid", p->data);
	text = t_read_file(path, NULL);
	/* Line 7: the key and id of the SysV segment. */
	line = text;
	for (int i = 0; line && i < 6; i++)
		line = (line = strchr(line, '\n')) ? line + 1 : NULL;
	if (line)
		sscanf(line, "%d %d", &key, &id);
	free(text);
	for (int i = 0; i < p->nr_children; i++)
		kill(p->children[i], SIGKILL);
	t_tree_stop(&p->t);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
}

static void pg_between(void *arg)
{
	psql_expect(arg, "SELECT nextval('s')", "2\n");
}

static void pg_case(enum svc_mode mode)
{
	struct pg p;

	pg_start(&p);
	if (mode != SVC_PREDUMP)
		pg_between(&p);
	/* The dump kills every process; the auxiliaries come to us (subreaper) to reap. */
	svc_checkpoint_reap(&p.t, mode, pg_between, &p, p.children, p.nr_children);
	pg_verify(&p, 3);
	pg_stop(&p);
}

Test(services_postgres, data_kept_eager)
{
	pg_case(SVC_EAGER);
}

Test(services_postgres, data_kept_lazy)
{
	pg_case(SVC_LAZY);
}

Test(services_postgres, data_kept_predump_chain)
{
	pg_case(SVC_PREDUMP);
}
