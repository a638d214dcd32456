// A map from 64-bit hashes that are already well mixed (session_hash) to a
// small value, in one array with linear probing. The session indexes hold
// one entry per session (600k for 10M rows, 130M for all of MSSD), and
// std::unordered_map's node per entry cost a cache miss to find, a malloc to
// add and a free to drop: a fifth of pass 1's time at 600k sessions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace skipper::data {

template <class Value>
class HashIndex {
public:
    // The value held for `key`, and whether it was added now (as `value`).
    std::pair<Value, bool> try_emplace(uint64_t key, Value value) {
        if (2 * (size_ + 1) > slots_.size()) grow();
        Slot& slot = find(slots_, key);
        if (slot.used) return {slot.value, false};
        slot = {key, value, true};
        ++size_;
        return {value, true};
    }
    size_t size() const { return size_; }
    // f(key, value) for every entry, in no particular order.
    template <class F>
    void for_each(F&& f) const {
        for (const Slot& slot : slots_)
            if (slot.used) f(slot.key, slot.value);
    }

private:
    struct Slot {
        uint64_t key = 0;
        Value value{};
        bool used = false;
    };
    static Slot& find(std::vector<Slot>& slots, uint64_t key) {
        const size_t mask = slots.size() - 1;
        for (size_t i = key & mask;; i = (i + 1) & mask)
            if (!slots[i].used || slots[i].key == key) return slots[i];
    }
    // Twice the slots (at most half full): one pass moves every entry.
    void grow() {
        std::vector<Slot> bigger(slots_.empty() ? 1024 : 2 * slots_.size());
        for (const Slot& slot : slots_)
            if (slot.used) find(bigger, slot.key) = slot;
        slots_.swap(bigger);
    }
    std::vector<Slot> slots_;
    size_t size_ = 0;
};

}  // namespace skipper::data
