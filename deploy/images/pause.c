/* pause.c - a pod sandbox's pause process, for build-pause-image.sh: it
 * only holds the pod's namespaces, so it sleeps in pause(2) until SIGTERM
 * or SIGINT (exit 0) and, as a pid 1, reaps whatever orphans it inherits. */
#define _POSIX_C_SOURCE 200809L /* sigaction under -std=c11 */
#include <signal.h>             /* sigaction */
#include <stdlib.h>             /* _Exit */
#include <sys/wait.h>           /* waitpid */
#include <unistd.h>             /* pause */

static void on_stop(int sig)
{
    (void)sig;
    _Exit(0);
}

static void on_child(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(void)
{
    struct sigaction stop = {.sa_handler = on_stop};
    struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
    sigemptyset(&stop.sa_mask);
    sigemptyset(&child.sa_mask);
    if (sigaction(SIGTERM, &stop, NULL) < 0 || sigaction(SIGINT, &stop, NULL) < 0 ||
        sigaction(SIGCHLD, &child, NULL) < 0)
        return 1;
    for (;;)
        pause();
}
