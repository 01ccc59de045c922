// SPDX-License-Identifier: GPL-2.0-only
/*
 * The command agent behind `tools/vm.sh exec`, on the virtio-serial port "hyv.agent" of every test VM.
 * Static, and it execs the command itself (no shell): under two levels of TCG every exec of a dynamic
 * binary costs 1.5-4 s, and the shell agent it replaces spent 8 s of exec'd helpers (base64, timeout,
 * bash) on an empty command.
 *
 *   Request, one line:   ID TIMEOUT BASE64(cwd) BASE64(env: NAME=VALUE\0...) BASE64(argv: ARG\0...)
 *   Answer, three lines: ID stdout BASE64 / ID stderr BASE64 / ID rc STATUS
 *
 * The command runs chrooted into ROOT, in its own process group, stdin /dev/null; past TIMEOUT seconds
 * the group gets SIGTERM and 5 s later SIGKILL, and the status is 124, like timeout(1). A command
 * killed by a signal is 128 + the signal, as in a shell; one that cannot be exec'd is 127.
 *
 * Usage: hyv-agent ROOT ROLE                      the agent, in the VM
 *        hyv-agent call DIR TIMEOUT CMD [ARG...]   the caller's side, for `tools/vm.sh exec`: one request
 *        to the agent behind DIR/agent.sock (serialised by a lock on DIR/agent.lock), its output on
 *        stdout and stderr, its status as the exit status. Static like the agent: in a test host every
 *        process costs a TCG exec, and the shell, socat and base64 it replaces took about 1 s a call.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "hyv.agent"
#define WORK_DIR "/run/hyv-agent"	/* inside ROOT; a tmpfs at both levels */
#define MAX_REQUEST (16 << 20)
#define MAX_ARGS 4096
#define KILL_GRACE_S 5
#define STATUS_TIMEOUT 124
#define STATUS_AGENT_ERROR 125
#define STATUS_NOT_EXECUTABLE 126
#define STATUS_NOT_FOUND 127
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *root, *role;
static char work[4096];

static void console(const char *fmt, ...)
{
	char uptime[32] = "?";
	FILE *f = fopen("/proc/uptime", "r");
	FILE *out = fopen("/dev/console", "w");
	va_list ap;

	if (f) {
		if (fscanf(f, "%31s", uptime) != 1)
			strcpy(uptime, "?");
		fclose(f);
	}
	if (!out)
		out = stderr;
	fprintf(out, "hyv-init: [%s] ", uptime);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	if (out != stderr)
		fclose(out);
}

static void die(const char *what)
{
	int fd;

	console("FATAL: %s: %s", what, strerror(errno));
	/* Power off, as tools/vm-agent.sh's hyv_die does. */
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd >= 0 && write(fd, "o", 1) < 0)
		perror("sysrq");
	for (;;)
		pause();
}

static char *path_in_work(const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s", work, name);
	return path;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decodes in place; returns the decoded length, or -1 on a character outside the alphabet. */
static long b64_decode(char *s)
{
	unsigned int acc = 0, bits = 0;
	long out = 0;
	char *p, *c;

	for (p = s; *p && *p != '='; p++) {
		c = strchr(b64chars, *p);
		if (!c)
			return -1;
		acc = (acc << 6) | (unsigned int)(c - b64chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			s[out++] = (char)((acc >> bits) & 0xff);
		}
	}
	return out;
}

static void b64_write(FILE *out, const unsigned char *d, size_t n)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		fputc(b64chars[d[i] >> 2], out);
		fputc(b64chars[((d[i] & 3) << 4) | (d[i + 1] >> 4)], out);
		fputc(b64chars[((d[i + 1] & 15) << 2) | (d[i + 2] >> 6)], out);
		fputc(b64chars[d[i + 2] & 63], out);
	}
	if (n - i == 1) {
		fputc(b64chars[d[i] >> 2], out);
		fputc(b64chars[(d[i] & 3) << 4], out);
		fputs("==", out);
	} else if (n - i == 2) {
		fputc(b64chars[d[i] >> 2], out);
		fputc(b64chars[((d[i] & 3) << 4) | (d[i + 1] >> 4)], out);
		fputc(b64chars[(d[i + 1] & 15) << 2], out);
		fputc('=', out);
	}
}

/* One "ID KIND BASE64(file)" line; a missing file is empty. */
static void answer_file(FILE *port, const char *id, const char *kind, const char *path)
{
	unsigned char buf[65536];
	unsigned char carry[2] = { 0 };
	size_t ncarry = 0, n, whole;
	FILE *f = fopen(path, "r");

	fprintf(port, "%s %s ", id, kind);
	while (f && (n = fread(buf + ncarry, 1, sizeof(buf) - ncarry, f)) > 0) {
		memcpy(buf, carry, ncarry);
		n += ncarry;
		whole = n - n % 3;
		b64_write(port, buf, whole);
		ncarry = n - whole;
		memcpy(carry, buf + whole, ncarry);
	}
	b64_write(port, carry, ncarry);
	fputc('\n', port);
	if (f)
		fclose(f);
}

/* Splits a decoded NUL-separated list into VEC (NULL-terminated); returns the count or -1. */
static int split_list(char *data, long len, char **vec, int max)
{
	int n = 0;
	long i = 0;

	while (i < len) {
		if (n == max - 1)
			return -1;
		vec[n++] = data + i;
		while (i < len && data[i])
			i++;
		if (i == len)
			return -1;	/* not NUL-terminated */
		i++;
	}
	vec[n] = NULL;
	return n;
}

static void child_exec(const char *cwd, char **env, char **argv)
{
	int null = open("/dev/null", O_RDONLY);
	int out = open(path_in_work("out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int err = open(path_in_work("err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	sigset_t none;
	int exec_errno;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (null < 0 || out < 0 || err < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(STATUS_AGENT_ERROR);
	if (chroot(root)) {
		dprintf(2, "vm-agent: chroot %s: %s\n", root, strerror(errno));
		_exit(STATUS_AGENT_ERROR);
	}
	if (chdir(cwd) && chdir("/"))
		_exit(STATUS_AGENT_ERROR);
	for (; *env; env++)
		putenv(*env);
	if (!getenv("PATH"))
		setenv("PATH", DEFAULT_PATH, 1);
	if (!getenv("HOME"))
		setenv("HOME", "/root", 1);
	execvp(argv[0], argv);
	exec_errno = errno;
	dprintf(2, "vm-agent: %s: %s\n", argv[0], strerror(exec_errno));
	_exit(exec_errno == ENOENT ? STATUS_NOT_FOUND : STATUS_NOT_EXECUTABLE);
}

/* Waits up to SECONDS for CHILD (SIGCHLD is blocked); true once it was reaped into *STATUS. */
static int reap_within(pid_t child, unsigned long seconds, int *status)
{
	struct timespec left = { .tv_sec = (time_t)seconds };
	struct timespec start, now;
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (waitpid(child, status, WNOHANG) == child)
			return 1;
		if (sigtimedwait(&chld, NULL, &left) < 0 && errno == EAGAIN)
			return waitpid(child, status, WNOHANG) == child;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = (time_t)seconds - (now.tv_sec - start.tv_sec);
		left.tv_nsec = start.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_nsec += 1000000000L;
			left.tv_sec--;
		}
		if (left.tv_sec < 0)
			left.tv_sec = left.tv_nsec = 0;
	}
}

static void note_error(const char *msg)
{
	FILE *err = fopen(path_in_work("err"), "a");

	if (err) {
		fprintf(err, "vm-agent: %s\n", msg);
		fclose(err);
	}
}

/* Runs one request's command; returns its status as a shell would report it. */
static int run(char *cwd, char *env_list, long env_len, char *argv_list, long argv_len,
	       unsigned long limit)
{
	static char *env[MAX_ARGS], *argv[MAX_ARGS];
	int status, timed_out = 0;
	pid_t child;

	if (split_list(env_list, env_len, env, MAX_ARGS) < 0 ||
	    split_list(argv_list, argv_len, argv, MAX_ARGS) < 1) {
		note_error("malformed request (env or argv)");
		return STATUS_AGENT_ERROR;
	}
	child = fork();
	if (child < 0) {
		note_error("fork failed");
		return STATUS_AGENT_ERROR;
	}
	if (child == 0)
		child_exec(cwd, env, argv);
	setpgid(child, child);
	if (!reap_within(child, limit, &status)) {
		timed_out = 1;
		kill(-child, SIGTERM);
		if (!reap_within(child, KILL_GRACE_S, &status)) {
			kill(-child, SIGKILL);
			waitpid(child, &status, 0);
		}
	}
	if (timed_out)
		return STATUS_TIMEOUT;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int open_port(void)
{
	char name[64], path[512];
	struct dirent *e;
	DIR *d = opendir("/sys/class/virtio-ports");
	int fd = -1;
	FILE *f;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f) && !strncmp(name, PORT_NAME "\n", sizeof(PORT_NAME))) {
			snprintf(path, sizeof(path), "/dev/%s", e->d_name);
			fd = open(path, O_RDWR | O_CLOEXEC);
		}
		fclose(f);
		if (fd >= 0)
			break;
	}
	if (d)
		closedir(d);
	return fd;
}

static void b64_list(FILE *out, char **items, int n)
{
	static unsigned char buf[MAX_REQUEST];
	size_t len = 0, l;
	int i;

	for (i = 0; i < n; i++) {
		l = strlen(items[i]) + 1;
		if (len + l > sizeof(buf))
			break;
		memcpy(buf + len, items[i], l);
		len += l;
	}
	b64_write(out, buf, len);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* The last LINES lines of PATH to stderr: the console of a VM that died under a command. */
static void tail_file(const char *path, int lines)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n;
	long i;

	if (!f)
		return;
	if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(buf))
		fseek(f, -(long)sizeof(buf), SEEK_END);
	else
		rewind(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	for (i = (long)n - 1; i > 0 && lines >= 0; i--)
		if (buf[i - 1] == '\n' && --lines < 0)
			break;
	fwrite(buf + (i > 0 ? i : 0), 1, n - (size_t)(i > 0 ? i : 0), stderr);
}

/*
 * The caller's environment the command gets: the build tree, and which cases a
 * test session runs (tests/vm/guest_session.sh). Nothing else crosses: paths
 * of the caller's VM state mean nothing inside the VM.
 */
static const char *const forwarded_env[] = { "HYV_BUILD_DIR", "HYV_CASES" };
#define FORWARDED_ENV_COUNT (sizeof(forwarded_env) / sizeof(forwarded_env[0]))

/* The caller's side (see the usage above); 124 when the agent does not answer. */
static int call(const char *dir, unsigned long limit, char **argv, int argc)
{
	char path[4200], cwd[4096], env[FORWARDED_ENV_COUNT][4200], id[64], *line = NULL, *kind,
		*payload, *save;
	char *env_items[FORWARDED_ENV_COUNT];
	int env_count = 0;
	size_t i;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct sigaction sa = { .sa_handler = on_alarm };
	size_t cap = 0;
	ssize_t len;
	long n;
	FILE *sock_in, *sock_out;
	int fd, lock, pid = -1;

	snprintf(path, sizeof(path), "%s/agent.lock", dir);
	lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0 || flock(lock, LOCK_EX)) {
		fprintf(stderr, "vm.sh: cannot lock %s: %s\n", path, strerror(errno));
		return STATUS_AGENT_ERROR;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/agent.sock", dir);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		fprintf(stderr, "vm.sh: cannot connect to %s: %s\n", addr.sun_path, strerror(errno));
		return STATUS_AGENT_ERROR;
	}
	sock_in = fdopen(fd, "r");
	sock_out = fdopen(dup(fd), "w");
	if (!sock_in || !sock_out || !getcwd(cwd, sizeof(cwd)))
		return STATUS_AGENT_ERROR;
	for (i = 0; i < FORWARDED_ENV_COUNT; i++) {
		const char *value = getenv(forwarded_env[i]);

		if (!value)
			continue;
		snprintf(env[env_count], sizeof(env[env_count]), "%s=%s", forwarded_env[i], value);
		env_items[env_count] = env[env_count];
		env_count++;
	}
	snprintf(id, sizeof(id), "%d-%ld", (int)getpid(), (long)time(NULL));
	fprintf(sock_out, "%s %lu ", id, limit);
	b64_write(sock_out, (const unsigned char *)cwd, strlen(cwd));
	fputc(' ', sock_out);
	b64_list(sock_out, env_items, env_count);
	fputc(' ', sock_out);
	b64_list(sock_out, argv, argc);
	fputc('\n', sock_out);
	fflush(sock_out);

	/* No SA_RESTART: the alarm ends a read that waits too long. */
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned int)limit + 30);
	while ((len = getline(&line, &cap, sock_in)) > 0) {
		if (strcmp(strtok_r(line, " \n", &save), id))
			continue;
		kind = strtok_r(NULL, " \n", &save);
		payload = strtok_r(NULL, " \n", &save);
		if (!kind)
			continue;
		if (!strcmp(kind, "rc"))
			return payload ? atoi(payload) : STATUS_AGENT_ERROR;
		n = payload ? b64_decode(payload) : 0;
		if (n > 0)
			fwrite(payload, 1, (size_t)n, strcmp(kind, "stderr") ? stdout : stderr);
		fflush(NULL);
	}
	snprintf(path, sizeof(path), "%s/pid", dir);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	if (pid > 0 && kill(pid, 0) && errno == ESRCH) {
		fprintf(stderr, "vm.sh: VM %s died while running the command; console tail follows\n", dir);
		snprintf(path, sizeof(path), "%s/console.log", dir);
		tail_file(path, 30);
	} else {
		fprintf(stderr, "vm.sh: no answer from VM %s within %lus\n", dir, limit + 30);
	}
	return STATUS_TIMEOUT;
}

int main(int argc, char **argv)
{
	char *line = NULL, *field[5], *save;
	long field_len[5];
	size_t cap = 0;
	ssize_t len;
	FILE *port_in, *port_out;
	sigset_t chld;
	int fd, rc, i;

	if (argc >= 5 && !strcmp(argv[1], "call"))
		return call(argv[2], strtoul(argv[3], NULL, 10), argv + 4, argc - 4);
	if (argc != 3) {
		fprintf(stderr, "usage: %s ROOT ROLE | %s call DIR TIMEOUT CMD [ARG...]\n", argv[0], argv[0]);
		return 2;
	}
	root = argv[1];
	role = argv[2];
	signal(SIGPIPE, SIG_IGN);
	/* Blocked, so that a child's exit is collected by sigtimedwait. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	snprintf(work, sizeof(work), "%s%s", strcmp(root, "/") ? root : "", WORK_DIR);
	if (mkdir(work, 0700) && errno != EEXIST)
		die("mkdir " WORK_DIR);
	fd = open_port();
	if (fd < 0)
		die("no virtio-serial port named " PORT_NAME);
	port_in = fdopen(fd, "r");
	port_out = fdopen(dup(fd), "w");
	if (!port_in || !port_out)
		die("fdopen");
	console("HYV-AGENT-READY role=%s", role);
	for (;;) {
		len = getline(&line, &cap, port_in);
		if (len < 0) {
			/* Fails while the host side is not connected; wait for the next client. */
			clearerr(port_in);
			usleep(200000);
			continue;
		}
		if (len > MAX_REQUEST)
			continue;
		field[0] = strtok_r(line, " \n", &save);
		for (i = 1; i < 5; i++)
			field[i] = field[i - 1] ? strtok_r(NULL, " \n", &save) : NULL;
		if (!field[4])
			continue;
		unlink(path_in_work("out"));
		unlink(path_in_work("err"));
		for (i = 2; i < 5; i++)
			field_len[i] = b64_decode(field[i]);
		if (field_len[2] < 0 || field_len[3] < 0 || field_len[4] < 0) {
			rc = STATUS_AGENT_ERROR;
			note_error("malformed request (base64)");
		} else {
			field[2][field_len[2]] = '\0';
			rc = run(field[2], field[3], field_len[3], field[4], field_len[4],
				 strtoul(field[1], NULL, 10));
		}
		answer_file(port_out, field[0], "stdout", path_in_work("out"));
		answer_file(port_out, field[0], "stderr", path_in_work("err"));
		fprintf(port_out, "%s rc %d\n", field[0], rc);
		fflush(port_out);
	}
}
