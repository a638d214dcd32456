"""Training progress: the records the engine reports each iteration (GBDT) or
epoch (LSTM) go to the `skipper` logger at INFO and to the user's callbacks."""
import logging

logger = logging.getLogger("skipper")


def progress_callback(label, callbacks):
    """The function the engine calls with (iteration, total, seconds, metrics),
    or None when nobody listens (the engine still checks for Ctrl-C)."""
    callbacks = list(callbacks or [])
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(f"callbacks must be callables taking one dict, got {callback!r}")
    if not callbacks and not logger.isEnabledFor(logging.INFO):
        return None

    def report(iteration, total, seconds, metrics):
        record = {"iteration": iteration, "total": total, "seconds": seconds, **metrics}
        if logger.isEnabledFor(logging.INFO):
            shown = " ".join(f"{name}={value:.6g}" for name, value in sorted(metrics.items()))
            logger.info("%s %d/%d %.2fs %s", label, iteration, total, seconds, shown)
        for callback in callbacks:
            callback(record)

    return report


def evals_result(log):
    """The engine's training log as LightGBM's evals_result_: {set: {metric: [values]}}."""
    out = {}
    for record in log["records"]:
        for key, value in record.items():
            if key in ("iteration", "seconds"):
                continue
            data_set, _, metric = key.partition("_")
            out.setdefault(data_set, {}).setdefault(metric, []).append(value)
    return out
