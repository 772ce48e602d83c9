// SPDX-License-Identifier: MIT
/*
 * The secret of a page server on loopback started without --secret-file
 * (ps_wire.h): made and written by the server, read by local clients, only
 * by the server's user; the files of servers that were killed are swept.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ps_wire.h"
#include "util.h"

#define LOG_PREFIX "page-server: "
#include "log.h"

int ps_local_secret_path(const char *where, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s.secret", PS_LOCAL_SECRET_DIR, where);

	return n < 0 || (size_t)n >= size || strchr(where, '/') ? -ENAMETOOLONG : 0;
}

/* mkdir -p of PS_LOCAL_SECRET_DIR, its last part mode 0700 and owned by us. */
static int local_secret_dir(void)
{
	char dir[] = PS_LOCAL_SECRET_DIR;
	struct stat st;

	for (char *p = dir + 1;; p++) {
		char c = *p;

		if (c && c != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, c ? 0755 : 0700) && errno != EEXIST) {
			int err = -errno;

			pr_errno(err, "cannot make %s for the page server's secret", dir);
			return err;
		}
		*p = c;
		if (!c)
			break;
	}
	if (lstat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		pr_err("%s must be a directory of uid %u with mode 0700 (it is uid %u, mode %04o): "
		       "the page server's secret would not be private there",
		       dir, (unsigned int)geteuid(), (unsigned int)st.st_uid,
		       (unsigned int)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/*
 * The secret files of servers that are gone (killed: nothing removed their
 * file): nothing listens on their address any more, so it can be bound.
 */
static void sweep_stale(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	DIR *d = opendir(PS_LOCAL_SECRET_DIR);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		struct addrinfo *res = NULL;
		char where[128], *colon, *host = where;
		int s;

		if (n <= 7 || n - 7 >= sizeof(where) || strcmp(e->d_name + n - 7, ".secret"))
			continue;
		memcpy(where, e->d_name, n - 7);
		where[n - 7] = '\0';
		colon = strrchr(where, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (*host == '[' && colon > host + 1 && colon[-1] == ']') {
			host++;
			colon[-1] = '\0';
		}
		if (getaddrinfo(host, colon + 1, &hints, &res))
			continue;
		s = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && !bind(s, res->ai_addr, res->ai_addrlen) &&
		    !unlinkat(dirfd(d), e->d_name, 0))
			pr_debug("removed %s/%s: its server is gone", PS_LOCAL_SECRET_DIR,
				 e->d_name);
		if (s >= 0)
			close(s);
		freeaddrinfo(res);
	}
	if (d)
		closedir(d);
}

int ps_local_secret_create(const char *where, uint8_t **secret, size_t *len, char *path,
			   size_t path_size)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[PS_LOCAL_SECRET_BYTES], *buf = NULL;
	char tmp[4096 + 32];
	int fd = -1, err;

	*secret = NULL;
	*len = 0;
	err = ps_local_secret_path(where, path, path_size);
	if (err) {
		pr_err("no local secret file for %s: name too long", where);
		return err;
	}
	err = local_secret_dir();
	if (err)
		return err;
	sweep_stale();
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		err = -errno;
		pr_perror("getrandom for the page server's secret");
		return err;
	}
	buf = malloc(2 * sizeof(raw) + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		buf[2 * i] = (uint8_t)hex[raw[i] >> 4];
		buf[2 * i + 1] = (uint8_t)hex[raw[i] & 15];
	}
	buf[2 * sizeof(raw)] = '\n';
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		pr_perror("cannot create %s", tmp);
		goto out;
	}
	err = write_full(fd, buf, 2 * sizeof(raw) + 1);
	if (!err && fsync(fd))
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		pr_errno(err, "cannot write the page server's secret to %s", path);
		unlink(tmp);
		goto out;
	}
	*secret = buf;
	*len = 2 * sizeof(raw);
	buf = NULL;
out:
	if (fd >= 0)
		close(fd);
	explicit_bzero(raw, sizeof(raw));
	ps_secret_free(buf, 2 * sizeof(raw) + 1);
	return err;
}
