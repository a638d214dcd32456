// Adam update (CPU). Semantics: engine/lstm_ops.h.
#pragma once

#include <cstdint>

namespace skipper::cpu {

template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, int64_t n, double learning_rate, double beta1, double beta2,
               double epsilon, double weight_decay, int64_t step);

}  // namespace skipper::cpu
