// TextCodes: a flat open-addressing hash table from text to dense codes
// 0, 1, 2, ... in order of first insertion. The dictionary behind every text
// column and the join on track id; several times faster than
// std::unordered_map on these short ids (one probe array, no node per entry).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace skipper::data {

// a == b for the short texts of CSV fields (ids of 36-38 bytes, names of a
// few): inline 8-byte compares, the last one overlapping, instead of a call
// to memcmp per row.
inline bool same_text(std::string_view a, std::string_view b) {
    const size_t n = a.size();
    if (n != b.size()) return false;
    if (n < 8) {
        for (size_t i = 0; i < n; ++i)
            if (a[i] != b[i]) return false;
        return true;
    }
    const auto word = [](const char* p) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        return w;
    };
    for (size_t i = 0; i + 8 < n; i += 8)
        if (word(a.data() + i) != word(b.data() + i)) return false;
    return word(a.data() + n - 8) == word(b.data() + n - 8);
}

class TextCodes {
public:
    static uint64_t hash(std::string_view text) {
        uint64_t h = 0x9E3779B97F4A7C15ULL ^ text.size();
        size_t i = 0;
        for (; i + 8 <= text.size(); i += 8) {
            uint64_t word;
            std::memcpy(&word, text.data() + i, 8);
            h = (h ^ word) * 0xBF58476D1CE4E5B9ULL;
            h ^= h >> 29;
        }
        h = (h ^ tail_word(text, i)) * 0x94D049BB133111EBULL;
        return h ^ (h >> 32);
    }

    // The code of `text`, or -1.
    int32_t find(std::string_view text) const { return find(text, hash(text)); }
    // The same with h = hash(text) already known.
    int32_t find(std::string_view text, uint64_t h) const {
        if (slots_.empty()) return -1;
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            const Slot& slot = slots_[i];
            if (slot.code < 0) return -1;
            if (slot.hash == h && slot.matches(text)) return slot.code;
        }
    }

    // The code of `text`, adding it (with a new code) if absent. The caller
    // keeps the text's bytes alive as long as this table.
    int32_t insert(std::string_view text) { return insert(text, hash(text)); }
    // The same with h = hash(text) already known.
    int32_t insert(std::string_view text, uint64_t h) {
        if ((names_.size() + 1) * 2 > slots_.size()) grow();
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            Slot& slot = slots_[i];
            if (slot.code < 0) {
                slot = {h, text.data(), static_cast<uint32_t>(text.size()), static_cast<int32_t>(names_.size())};
                names_.push_back(text);
                return slot.code;
            }
            if (slot.hash == h && slot.matches(text)) return slot.code;
        }
    }

    // Starts loading the slot where a probe for hash h begins: a big table's
    // probe is a cache miss, and the parser knows a row's texts well before it
    // enters them (only once the whole row is good).
    void prefetch(uint64_t h) const {
        if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask_]);
    }

    // Stage two: once the slot is in cache, starts loading the text that a
    // probe for hash h compares first.
    void prefetch_text(uint64_t h) const {
        if (slots_.empty()) return;
        const Slot& slot = slots_[h & mask_];
        if (slot.code >= 0 && slot.hash == h) __builtin_prefetch(slot.data);
    }

    // Room for `count` texts without growing again: one rehash into the final size.
    void reserve(size_t count) {
        size_t size = slots_.empty() ? 64 : slots_.size();
        while (size < count * 2) size *= 2;
        if (size > slots_.size()) rehash(size);
    }
    size_t size() const { return names_.size(); }
    const std::vector<std::string_view>& names() const { return names_; }

private:
    // The bytes from `i` on (fewer than 8) as a little-endian word, zero above:
    // what a memcpy of that many bytes gives, read with fixed-size loads (a
    // memcpy of a variable size is a call, once per hashed field). The hash's
    // values must not change: session_hash (layout.cpp) is this hash.
    static uint64_t tail_word(std::string_view text, size_t i) {
        const size_t n = text.size(), left = n - i;
        const char* p = text.data();
        if (left == 0) return 0;
        if (n >= 8) return word_at(p + n - 8) >> (8 * (8 - left));  // the last 8 bytes, those before i shifted out
        if (n >= 4) return uint64_t{u32_at(p)} | uint64_t{u32_at(p + n - 4)} << (8 * (n - 4));
        const auto byte = [p](size_t k) { return uint64_t{static_cast<unsigned char>(p[k])} << (8 * k); };
        return byte(0) | byte(n / 2) | byte(n - 1);
    }
    static uint64_t word_at(const char* p) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        return w;
    }
    static uint32_t u32_at(const char* p) {
        uint32_t w;
        std::memcpy(&w, p, 4);
        return w;
    }

    // The text's bytes are kept in the slot so that a probe touches the slot
    // and the text, not also the names array (each a cache miss on big tables).
    struct Slot {
        uint64_t hash = 0;
        const char* data = nullptr;
        uint32_t size = 0;
        int32_t code = -1;

        bool matches(std::string_view text) const { return same_text({data, size}, text); }
    };
    void grow() { rehash(slots_.empty() ? 64 : slots_.size() * 2); }
    void rehash(size_t size) {
        std::vector<Slot> old = std::move(slots_);
        slots_.assign(size, Slot{});
        mask_ = slots_.size() - 1;
        for (const Slot& slot : old) {
            if (slot.code < 0) continue;
            size_t i = slot.hash & mask_;
            while (slots_[i].code >= 0) i = (i + 1) & mask_;
            slots_[i] = slot;
        }
    }

    std::vector<Slot> slots_;
    size_t mask_ = 0;
    std::vector<std::string_view> names_;
};

}  // namespace skipper::data
