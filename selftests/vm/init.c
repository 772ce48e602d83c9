// SPDX-License-Identifier: MIT
/*
 * PID 1 of the test VM (scripts/vm-run.sh, selftests/test_vm.c): a static
 * program that mounts the pseudo filesystems ferry needs, runs
 * `/bin/bash /test.sh` with its output on the console, reaps every process
 * (restored trees get reparented here) until that shell exits, then prints
 * "FERRY-VM-EXIT <rc>" on a line of its own and powers the machine off.
 * It never returns: PID 1 exiting panics the kernel.
 *
 * It is linked on its own (no libferry), so it logs to stderr itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_SHELL "/bin/bash"
#define TEST_SCRIPT "/test.sh"

struct vm_mount {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
};

/* In order: /dev/pts lives on devtmpfs, /sys/fs/bpf on sysfs. */
static const struct vm_mount vm_mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666" },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
	{ "bpf", "/sys/fs/bpf", "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700" },
};

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("ferry-vm-init: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Mount everything in vm_mounts; a failed mount is reported, not fatal. */
static void mount_all(void)
{
	size_t i;

	for (i = 0; i < sizeof(vm_mounts) / sizeof(vm_mounts[0]); i++) {
		const struct vm_mount *m = &vm_mounts[i];

		if (mkdir(m->target, 0755) && errno != EEXIST)
			warn("mkdir %s: %s", m->target, strerror(errno));
		if (mount(m->source, m->target, m->type, m->flags, m->data))
			warn("mount %s on %s: %s", m->type, m->target, strerror(errno));
	}
}

/*
 * The kernel gives init /dev/console as fds 0-2 when the initramfs has that
 * node; otherwise open it from the devtmpfs just mounted.
 */
static void open_console(void)
{
	int fd, i;

	if (fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0)
		return;
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return;
	for (i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

/* Bring up loopback, for page-server tests over 127.0.0.1. */
static void loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		warn("socket: %s", strerror(errno));
		return;
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		warn("SIOCGIFFLAGS lo: %s", strerror(errno));
	} else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			warn("SIOCSIFFLAGS lo: %s", strerror(errno));
	}
	close(fd);
}

/* Start the test shell in a session of its own; returns its pid or -errno. */
static pid_t start_shell(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *const argv[] = { TEST_SHELL, TEST_SCRIPT, NULL };

		setsid();
		/* A controlling terminal, for shell jobs; fine without one. */
		ioctl(0, TIOCSCTTY, 0);
		execv(TEST_SHELL, argv);
		warn("exec %s %s: %s", TEST_SHELL, TEST_SCRIPT, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Reap every child until @shell exits; returns its exit code (128+sig if killed). */
static int reap_until(pid_t shell)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			/* ECHILD: the shell is gone without us seeing it; cannot happen. */
			warn("waitpid: %s", strerror(errno));
			return 255;
		}
		if (pid != shell)
			continue;
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		if (WIFSIGNALED(status))
			return 128 + WTERMSIG(status);
	}
}

static void __attribute__((noreturn)) power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	warn("reboot(RB_POWER_OFF): %s", strerror(errno));
	reboot(RB_HALT_SYSTEM);
	for (;;)
		pause();
}

int main(void)
{
	pid_t shell;
	int rc;

	/* Mounting over /tmp and /run of a live host would be a disaster. */
	if (getpid() != 1) {
		fprintf(stderr, "ferry-vm-init: not PID 1; this is the test VM's init only\n");
		return 2;
	}
	mount_all();
	open_console();
	loopback_up();
	setenv("PATH", "/bin:/usr/bin", 1);
	setenv("HOME", "/", 1);
	if (chdir("/"))
		warn("chdir /: %s", strerror(errno));

	shell = start_shell();
	if (shell < 0) {
		warn("fork: %s", strerror(-shell));
		rc = 255;
	} else {
		rc = reap_until(shell);
	}
	fflush(stderr);
	printf("\nFERRY-VM-EXIT %d\n", rc);
	fflush(stdout);
	power_off();
}
