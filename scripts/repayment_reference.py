#!/usr/bin/env python3
"""Independent reference for reckon's repayment schedules (docs/repayment.md).

Written from the convention, not from the Rust code: exact rational arithmetic
(fractions.Fraction) and half-up rounding to the cent. Its output is pasted as
expected values into src/jobs/repayment/schedule.rs tests.

Usage: python3 scripts/repayment_reference.py
"""
import calendar
import datetime
from fractions import Fraction as F

CENT = F(1, 100)


def half_up(x):
    """Rounds a Fraction to the cent, ties away from zero."""
    sign = -1 if x < 0 else 1
    cents = (abs(x) * 100 + F(1, 2)).__floor__()
    return sign * F(cents, 100)


def fmt(x):
    cents = int(x * 100)
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def due_date(start, k, day):
    month0 = start.month - 1 + k
    year = start.year + month0 // 12
    month = month0 % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, min(day, last))


def schedule(principal, annual, months, method, start):
    P = F(principal)
    r = F(annual) / 12
    rows = []
    bal = P
    day = start.day
    if method == "bullet":
        interest = half_up(P * r * months)
        return [(1, due_date(start, months, day), P + interest, P, interest, F(0))]
    if method == "equal-installment":
        if r == 0:
            inst = half_up(P / months)
        else:
            g = (1 + r) ** months
            inst = half_up(P * r * g / (g - 1))
    per_principal = half_up(P / months)
    for k in range(1, months + 1):
        interest = half_up(bal * r)
        if k == months:
            principal_k = bal
        elif method == "equal-installment":
            principal_k = inst - interest
        elif method == "equal-principal":
            principal_k = per_principal
        elif method == "interest-only":
            principal_k = F(0)
        bal -= principal_k
        rows.append((k, due_date(start, k, day), principal_k + interest, principal_k, interest, bal))
    return rows


CASES = [
    ("10000.00", "0.12", 12, "equal-installment", datetime.date(2026, 1, 15)),
    ("10000.00", "0.12", 12, "equal-principal", datetime.date(2026, 1, 15)),
    ("10000.00", "0.12", 12, "interest-only", datetime.date(2026, 1, 15)),
    ("10000.00", "0.12", 12, "bullet", datetime.date(2026, 1, 15)),
    ("50000.00", "0.0435", 6, "equal-installment", datetime.date(2026, 1, 31)),
    ("7777.77", "0.10", 5, "equal-principal", datetime.date(2026, 8, 31)),
    ("1000.00", "0", 3, "equal-installment", datetime.date(2026, 11, 21)),
]

if __name__ == "__main__":
    for principal, annual, months, method, start in CASES:
        rows = schedule(principal, annual, months, method, start)
        total_interest = sum(r[4] for r in rows)
        print(f"# {principal} at {annual} for {months} months, {method}, start {start}: "
              f"total interest {fmt(total_interest)}")
        for k, due, inst, prin, intr, bal in rows:
            print(f'({k}, "{due}", "{fmt(inst)}", "{fmt(prin)}", "{fmt(intr)}", "{fmt(bal)}"),')


def regenerate(balance, annual, slots, method, mode, current_installment=None, current_principal=None):
    """The rest of a schedule after a prepayment (docs/repayment.md)."""
    r = F(annual) / 12
    bal = F(balance)
    n = len(slots)
    rows = []
    shorter = mode == "shorter-term" and n > 1 and method in ("equal-installment", "equal-principal")
    if method == "equal-installment":
        inst = F(current_installment) if shorter else half_up(bal * r * (1 + r) ** n / ((1 + r) ** n - 1))
    per_principal = F(current_principal) if (shorter and current_principal) else half_up(bal / n)
    for i, (k, due) in enumerate(slots):
        interest = half_up(bal * r)
        if method == "equal-installment":
            scheduled = inst - interest
        elif method == "equal-principal":
            scheduled = per_principal
        else:
            scheduled = F(0)
        principal_k = bal if (i == n - 1 or scheduled >= bal) else scheduled
        bal -= principal_k
        rows.append((k, due, principal_k + interest, principal_k, interest, bal))
        if shorter and bal == 0:
            break
    return rows


def penalty_day(principal, annual, multiplier="1.5", basis=360):
    return half_up(F(principal) * F(annual) * F(multiplier) / basis)


if __name__ == "__main__":
    print("# prepayment on 2026-02-25 of the 10000.00 / 0.12 / 12 equal-installment loan:")
    print("# balance 9211.51 - 4608.95 = 4602.56 over periods 2..12")
    start = datetime.date(2026, 1, 15)
    slots = [(k, due_date(start, k, 15)) for k in range(2, 13)]
    for mode in ("shorter-term", "lower-installment"):
        print(f"# {mode}")
        for k, due, inst, prin, intr, bal in regenerate("4602.56", "0.12", slots, "equal-installment", mode, "888.49"):
            print(f'({k}, "{due}", "{fmt(inst)}", "{fmt(prin)}", "{fmt(intr)}", "{fmt(bal)}"),')
    print("# daily penalties (x 0.12 x 1.5 / 360):",
          [fmt(penalty_day(p, "0.12")) for p in ("788.49", "390.05")])
    print("# daily accrual on 4602.56 at 0.12 / 360:", fmt(half_up(F("4602.56") * F("0.12") / 360)))
    print("# demo LN-1001: 50000.00 at 0.12 for 12 months, equal installment, from 2026-11-21")
    for k, due, inst, prin, intr, bal in schedule("50000.00", "0.12", 12, "equal-installment", datetime.date(2026, 11, 21)):
        print(f'{k},{due},{fmt(inst)},{fmt(prin)},{fmt(intr)},{fmt(bal)}')
    print("# demo LN-1005: 60000.00 at 0.108 for 24 months from 2025-12-21; periods 1-11 paid,")
    print("# 20000.00 prepaid on 2026-11-21 (shorter term, keep the installment)")
    full = schedule("60000.00", "0.108", 24, "equal-installment", datetime.date(2025, 12, 21))
    balance = full[10][5] - 20000
    inst = full[0][2]
    slots = [(k, due_date(datetime.date(2025, 12, 21), k, 21)) for k in range(12, 25)]
    print(f"# installment {fmt(inst)}, balance after period 11 {fmt(full[10][5])}, after prepayment {fmt(balance)}")
    for k, due, inst_k, prin, intr, bal in regenerate(balance, "0.108", slots, "equal-installment", "shorter-term", inst):
        print(f'{k},{due},{fmt(inst_k)},{fmt(prin)},{fmt(intr)},{fmt(bal)}')
