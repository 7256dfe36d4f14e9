/* The C client of the `cli` group: connects to the Unix stream socket at
 * PATH (retrying for up to 5 s while the server starts), prints "ready",
 * then for each line N on stdin does N round trips of SIZE bytes and
 * prints the nanoseconds they took, or "ERR reason" if a reply was wrong.
 * Every reply's stamps (the first and last 8 bytes, unique to the round
 * trip) are checked, and the last reply of each batch in full.
 *   usage: echo_client PATH SIZE */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int write_all(int fd, const unsigned char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_exact(int fd, unsigned char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void stamp(unsigned char *buf, size_t size, uint64_t value) {
    size_t head = size < 8 ? size : 8;
    memcpy(buf, &value, head);
    if (size >= 16) memcpy(buf + size - 8, &value, 8);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH SIZE\n", argv[0]);
        return 2;
    }
    size_t size = (size_t)strtoul(argv[2], NULL, 10);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (size == 0 || strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "bad size or path\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    int fd = -1;
    for (int attempt = 0; attempt < 5000; attempt++) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) break;
        if (fd >= 0) close(fd);
        fd = -1;
        usleep(1000);
    }
    if (fd < 0) {
        printf("ERR cannot connect to %s\n", argv[1]);
        return 1;
    }
    unsigned char *message = malloc(size), *reply = malloc(size);
    for (size_t i = 0; i < size; i++) message[i] = (unsigned char)((i * 31) ^ (i >> 8));
    uint64_t counter = (uint64_t)getpid() << 32;
    printf("ready\n");
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        long ops = strtol(line, NULL, 10);
        const char *wrong = NULL;
        uint64_t started = now_ns();
        for (long op = 0; op < ops && !wrong; op++) {
            stamp(message, size, ++counter);
            if (write_all(fd, message, size) < 0 || read_exact(fd, reply, size) < 0) {
                wrong = "the server closed the connection";
                break;
            }
            size_t head = size < 8 ? size : 8;
            if (memcmp(reply, message, head) != 0 ||
                (size >= 16 && memcmp(reply + size - 8, message + size - 8, 8) != 0))
                wrong = "a reply carries another round trip's stamp";
        }
        uint64_t elapsed = now_ns() - started;
        if (!wrong && memcmp(reply, message, size) != 0) wrong = "the last reply differs from its message";
        if (wrong)
            printf("ERR %s\n", wrong);
        else
            printf("%llu\n", (unsigned long long)elapsed);
        fflush(stdout);
        if (wrong) return 1;
    }
    close(fd);
    return 0;
}
