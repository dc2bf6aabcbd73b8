"""A forget receipt in words: what was destroyed, what was replayed, and what was measured."""

from __future__ import annotations

from textual.widgets import Static

from runtime.assistant import ForgetReceipt
from runtime.tui import format as fmt


def receipt_lines(r: ForgetReceipt) -> list[str]:
    lines = [
        f"{'Redacted' if r.replaced_by else 'Forgotten'} · receipt {fmt.short(r.id)}",
        f"shredded {fmt.plural(len(r.records_shredded), 'record')} · "
        f"dropped {fmt.plural(len(r.checkpoints_dropped), 'checkpoint')} · "
        f"replayed {fmt.plural(r.episodes_replayed, 'episode')} · {r.seconds:.1f} s",
        f"state {fmt.short(r.state_hash, 16)} = a replay of the log that remains",
    ]
    if r.replaced_by:
        lines.append(f"the redacted text was learned in its place as {fmt.short(r.replaced_by)}")
    v = r.verification
    if v is None:
        lines.append("not measured (verification was off)")
    else:
        lines.append(f"strength {v.strength_before:.3f} → {v.strength_after:.3f} nats/token above the base model")
        never = ""
        if v.exposure_never_seen:
            never = f" · never-seen texts {min(v.exposure_never_seen):.1f}–{max(v.exposure_never_seen):.1f}"
        lines.append(f"exposure {v.exposure_before:.1f} → {v.exposure_after:.1f} bits · "
                     f"base model {v.exposure_base:.1f}{never}")
    return lines


class ReceiptView(Static):
    def __init__(self, receipt: ForgetReceipt, **kwargs) -> None:
        super().__init__("\n".join(receipt_lines(receipt)), markup=False, **kwargs)
        self.receipt = receipt
