// Windows of a file worked on by several threads at once, their results
// committed in file order: the streamed readers' parallelism. Each thread
// takes the next window (reading it: the IO overlaps the others' parsing),
// parses and builds it alone (inner OpenMP loops run on one thread there, so
// no thread waits at a barrier and no step runs serially while a core idles),
// then waits for its turn to commit. Results therefore land in the order one
// thread would give, and so does the first error: an error in a window is
// raised when that window's turn comes, after every window before it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>

namespace skipper::data {

// take() -> std::optional<Job>, called under a lock, in order (std::nullopt:
// no more jobs); work(Job&) in parallel; commit(Job&) in the order taken.
// `threads` OpenMP threads (1: all in order on this thread). The first
// exception in job order is rethrown once every thread has stopped.
template <class Take, class Work, class Commit>
void run_ordered_jobs(int threads, Take take, Work work, Commit commit) {
    std::mutex take_mutex, commit_mutex;
    std::condition_variable turn;
    int64_t taken = 0, committed = 0;
    bool stop = false;  // an error was committed: every thread leaves
    std::exception_ptr error;
    std::exception_ptr take_error;  // raised after the jobs taken before it
    bool no_more = false;
#pragma omp parallel num_threads(threads)
    for (;;) {
        decltype(take()) job;
        int64_t seq = 0;
        {
            const std::lock_guard<std::mutex> lock(take_mutex);
            if (no_more) break;
            try {
                job = take();
            } catch (...) {
                take_error = std::current_exception();
            }
            if (!job) {
                no_more = true;
                break;
            }
            seq = taken++;
        }
        std::exception_ptr failed;
        try {
            work(*job);
        } catch (...) {
            failed = std::current_exception();
        }
        std::unique_lock<std::mutex> lock(commit_mutex);
        turn.wait(lock, [&] { return stop || committed == seq; });
        if (stop) break;
        if (!failed) {
            try {
                commit(*job);
            } catch (...) {
                failed = std::current_exception();
            }
        }
        if (failed) {
            error = failed;
            stop = true;
            // No more takes either: the taker checks no_more under its own lock.
            lock.unlock();
            {
                const std::lock_guard<std::mutex> take_lock(take_mutex);
                no_more = true;
            }
            turn.notify_all();
            break;
        }
        ++committed;
        turn.notify_all();
    }
    if (error) std::rethrow_exception(error);
    if (take_error) std::rethrow_exception(take_error);
}

}  // namespace skipper::data
