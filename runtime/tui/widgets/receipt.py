"""A forget receipt in words: what was destroyed, what was replayed, and what was measured."""

from __future__ import annotations

from textual.widgets import Static

from runtime.assistant import ForgetReceipt
from runtime.tui import format as fmt
from runtime.wording import receipt_done, verdict


def receipt_lines(r: ForgetReceipt) -> list[str]:
    """What was done (the plan's numbers, in the plan's words), then what was measured, in words first."""
    lines = [
        f"{'Redacted' if r.replaced_by else 'Forgotten'} · receipt {fmt.short(r.id)}",
        receipt_done(r),
        f"state {fmt.short(r.state_hash, 16)} = a replay of the log that remains",
    ]
    if r.replaced_by:
        lines.append(f"the redacted text was learned in its place as {fmt.short(r.replaced_by)}")
    lines.append("not measured (verification was off)" if r.verification is None else
                 verdict(r.verification)[0].upper() + verdict(r.verification)[1:])
    return lines


class ReceiptView(Static):
    def __init__(self, receipt: ForgetReceipt, **kwargs) -> None:
        super().__init__("\n".join(receipt_lines(receipt)), markup=False, **kwargs)
        self.receipt = receipt
