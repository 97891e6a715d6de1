// Valgrind 3.19 crashes when libdispatch's dispatch_main() parks the main thread
// (pthread_exit, then sigsuspend in a TSD destructor). This stand-in keeps the main thread
// and drains the main queue itself, the way CoreFoundation's run loop does.
#include <poll.h>
#include <stdint.h>
extern void _dispatch_main_queue_callback_4CF(void *msg);
extern int _dispatch_get_main_queue_handle_4CF(void);
void dispatch_main(void) {
    int fd = _dispatch_get_main_queue_handle_4CF();
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        poll(&p, 1, 100);
        _dispatch_main_queue_callback_4CF(0);
    }
}
