// Weighted binary cross-entropy on logits (CPU). Semantics: engine/lstm_ops.h.
#pragma once

#include <cstdint>

namespace skipper::cpu {

template <class T> double bce_with_logits_forward(const T* logits, const T* targets, const T* weights, int64_t n);
template <class T>
void bce_with_logits_backward(const T* logits, const T* targets, const T* weights, int64_t n, T* dlogits);

}  // namespace skipper::cpu
