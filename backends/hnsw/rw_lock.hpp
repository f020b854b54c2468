// A reader-writer lock that lets a waiting writer in before new readers.
// std::shared_mutex on glibc prefers readers: with searches running back to
// back on every core, a write could wait for ever (measured: a test with
// three searching threads took two minutes to write 3000 documents).
#pragma once

#include <pthread.h>

namespace lifeline::hnsw {

class rw_lock {
public:
  rw_lock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~rw_lock() { pthread_rwlock_destroy(&lock_); }
  rw_lock(const rw_lock&) = delete;
  rw_lock& operator=(const rw_lock&) = delete;

  // Lockable and SharedLockable: works with std::unique_lock / std::shared_lock.
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

private:
  pthread_rwlock_t lock_;
};

} // namespace lifeline::hnsw
