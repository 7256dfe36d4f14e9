/*
 * How much a SOCK_SEQPACKET round trip costs on this machine when nothing
 * changes but where the `syscall` instructions sit in the program.
 *
 * A parent and a forked child bounce a 64-byte record over a socketpair,
 * with raw `syscall` instructions (no libc wrapper), preceded by PAD `nop`s
 * (set at compile time with -DPAD_NOPS="..."). Every build makes the same
 * system calls with the same arguments; only the code's addresses move.
 * Built with -DCALLED, each system call sits in a function of its own that
 * the loops call (as in any library) instead of inline in the loops.
 * Run by scripts/syscall-placement.sh, which explains the output.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PAD_NOPS
#define PAD_NOPS ""
#endif

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* sendto/recvfrom with no address: the same calls rustix makes. */
static inline long call4(long nr, long fd, void *buf, long len, long flags) {
    long ret;
    register long r10 __asm__("r10") = flags;
    register long r8 __asm__("r8") = 0;
    register long r9 __asm__("r9") = 0;
    __asm__ volatile(PAD_NOPS "syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(fd), "S"(buf), "d"(len), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#ifdef CALLED
__attribute__((noinline)) static long send_record(int fd, char *buf, long len) {
    return call4(SYS_sendto, fd, buf, len, MSG_NOSIGNAL);
}
__attribute__((noinline)) static long recv_record(int fd, char *buf, long len) {
    return call4(SYS_recvfrom, fd, buf, len, 0);
}
#else
#define send_record(fd, buf, len) call4(SYS_sendto, fd, buf, len, MSG_NOSIGNAL)
#define recv_record(fd, buf, len) call4(SYS_recvfrom, fd, buf, len, 0)
#endif

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 100000;
    int pair[2];
    char record[64] = {1};
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) != 0) {
        perror("socketpair");
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        close(pair[0]);
        while (recv_record(pair[1], record, sizeof record) > 0)
            send_record(pair[1], record, sizeof record);
        _exit(0);
    }
    close(pair[1]);
    for (int i = 0; i < 1000; i++) {
        send_record(pair[0], record, sizeof record);
        recv_record(pair[0], record, sizeof record);
    }
    double start = seconds();
    for (int i = 0; i < rounds; i++) {
        send_record(pair[0], record, sizeof record);
        recv_record(pair[0], record, sizeof record);
    }
    double elapsed = seconds() - start;
    printf("%.2f\n", elapsed / rounds * 1e6);
    close(pair[0]);
    waitpid(child, NULL, 0);
    return 0;
}
