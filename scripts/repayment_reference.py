#!/usr/bin/env python3
"""Independent reference for reckon's repayment schedules (docs/repayment.md).

Written from the conventions and end-of-day rules (docs/repayment.md), not
from the Rust code: exact rational arithmetic (fractions.Fraction), half-up
rounding to the cent, and an end of day simulated day by day (the Rust replay
jumps between events). Its output is pasted as expected values into the tests
(src/jobs/repayment/*.rs, tests/repayment*.rs).

Usage: python3 scripts/repayment_reference.py             schedules (and the demo's LN-1001, LN-1005)
       python3 scripts/repayment_reference.py demo [DATE] the demo book's overdue.csv / loans.csv rows
       python3 scripts/repayment_reference.py scenarios   the end-of-day test scenarios
"""
import calendar
import datetime
import sys
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


def broken_days(start, day, first_period):
    """Days of period 1 when it is charged by the day (cny-v2), else None."""
    if first_period != "actual_days":
        return None
    first = due_date(start, 1, day)
    whole = due_date(start, 1, start.day)
    return (first - start).days if first != whole else None


def slot_interest(bal, annual, basis, broken, method, months):
    """One slot's interest: a month, the broken period's days, or a bullet's term."""
    a = F(annual)
    if method == "bullet":
        if broken is None:
            return half_up(bal * a / 12 * months)
        return half_up(bal * a * (F(months - 1, 12) + F(broken, basis)))
    if broken is None:
        return half_up(bal * a / 12)
    return half_up(bal * a * broken / basis)


def schedule(principal, annual, months, method, start, day=None, first_period="actual_days", basis=360):
    """The original schedule: rows (period, due, installment, principal, interest, balance)."""
    P = F(principal)
    r = F(annual) / 12
    rows = []
    bal = P
    day = day or start.day
    broken = broken_days(start, day, first_period)
    if method == "bullet":
        interest = slot_interest(P, annual, basis, broken, method, months)
        return [(1, due_date(start, months, day), P + interest, P, interest, F(0))]
    if method == "equal-installment":
        if r == 0:
            inst = half_up(P / months)
        else:
            g = (1 + r) ** months
            inst = half_up(P * r * g / (g - 1))
    per_principal = half_up(P / months)
    for k in range(1, months + 1):
        interest = slot_interest(bal, annual, basis, broken if k == 1 else None, method, months)
        if method == "equal-installment":
            scheduled = max(inst - interest, F(0))
        elif method == "equal-principal":
            scheduled = per_principal
        else:
            scheduled = F(0)
        # The last period takes the balance; no period takes more than the balance.
        principal_k = bal if (k == months or scheduled >= bal) else scheduled
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
    # no period takes more than the balance: 0.01 a period runs out in period 10
    ("0.10", "0", 12, "equal-principal", datetime.date(2026, 1, 1)),
]

if __name__ == "__main__" and len(sys.argv) == 1:
    for principal, annual, months, method, start in CASES:
        rows = schedule(principal, annual, months, method, start)
        total_interest = sum(r[4] for r in rows)
        print(f"# {principal} at {annual} for {months} months, {method}, start {start}: "
              f"total interest {fmt(total_interest)}")
        for k, due, inst, prin, intr, bal in rows:
            print(f'({k}, "{due}", "{fmt(inst)}", "{fmt(prin)}", "{fmt(intr)}", "{fmt(bal)}"),')


# ---------------------------------------------------------------------------
# End of day (docs/repayment.md, "End of day for D"), simulated day by day
# from the disbursement — written from the documented rules, independently of
# the Rust replay (which jumps between events).

def amortize(bal, annual, basis, slots, plan, months, shorter):
    """slots: [(period, due, broken)]; plan: ("installment", A) | ("principal", p) | ("interest-only",) | ("bullet",)."""
    rows = []
    n = len(slots)
    for i, (k, due, broken) in enumerate(slots):
        method = "bullet" if plan[0] == "bullet" else "other"
        interest = slot_interest(bal, annual, basis, broken, method, months)
        if plan[0] == "installment":
            scheduled = max(plan[1] - interest, F(0))
        elif plan[0] == "principal":
            scheduled = plan[1]
        else:
            scheduled = F(0)
        principal_k = bal if (i == n - 1 or scheduled >= bal) else scheduled
        bal -= principal_k
        rows.append((k, due, principal_k + interest, principal_k, interest, bal))
        if shorter and bal == 0:
            break
    return rows


class Inst:
    def __init__(self, row):
        self.period, self.due, _, self.principal, self.interest, _ = row
        self.units = F(0)          # penalty: sum of principal x rate x days
        self.today_units = F(0)
        self.paid_p = self.paid_i = self.paid_pen = F(0)

    def penalty(self, basis):
        return half_up(self.units / basis)

    def owed(self, basis):
        return (self.principal - self.paid_p) + (self.interest - self.paid_i) + (self.penalty(basis) - self.paid_pen)


class Eod:
    def __init__(self, principal, annual, months, method, start, day=None, basis=360,
                 first_period="actual_days", penalty_rate=None, multiplier="1.5",
                 early_payment="hold", payoff_interest="accrued", prepayment="shorter-term"):
        self.annual, self.months, self.method, self.start = F(annual), months, method, start
        self.day = day or start.day
        self.basis = basis
        self.broken = broken_days(start, self.day, first_period)
        self.rate = F(penalty_rate) if penalty_rate is not None else F(annual) * F(multiplier)
        self.early, self.payoff, self.prepayment = early_payment, payoff_interest, prepayment
        self.insts = [Inst(r) for r in schedule(principal, annual, months, method, start, self.day, first_period, basis)]
        self.advance = []          # [(id, amount)]
        self.prepay_interest = []  # [(day, amount)]
        self.regenerations = []

    # -- allocation -------------------------------------------------------
    def allocate(self, day, amount, rid, source, out):
        left = amount
        for inst in self.insts:
            if inst.due > day:
                continue
            for comp in ("penalty", "interest", "principal"):
                owed = {"penalty": inst.penalty(self.basis) - inst.paid_pen,
                        "interest": inst.interest - inst.paid_i,
                        "principal": inst.principal - inst.paid_p}[comp]
                paid = min(owed, left)
                if paid > 0:
                    if comp == "penalty":
                        inst.paid_pen += paid
                    elif comp == "interest":
                        inst.paid_i += paid
                    else:
                        inst.paid_p += paid
                    left -= paid
                    out.append((rid, inst.period, comp, paid, source))
        return left

    def not_due(self, day):
        return sum((i.principal - i.paid_p for i in self.insts if i.due > day), F(0))

    def interest_on(self, x, day):
        cur = [j for j, i in enumerate(self.insts) if i.due > day]
        if not cur:
            return F(0)
        j = cur[0]
        start = self.insts[j - 1].due if j > 0 else self.start
        broken = self.broken if self.insts[j].period == 1 else None
        full = slot_interest(x, self.annual, self.basis, broken,
                             "bullet" if self.method == "bullet" else "other", self.months)
        if self.payoff == "current_period":
            return full
        return min(half_up(x * self.annual * (day - start).days / self.basis), full)

    def prepay(self, day, sources, out):
        s = sum((a for _, a, _ in sources), F(0))
        nd = self.not_due(day)
        pi = self.interest_on(nd, day)
        if s >= nd + pi:
            x, interest = nd, pi
        else:
            x = F(0)   # largest cent amount x with x + interest(x) <= s: count up by halving steps
            step = F(1, 100) * 2 ** 40
            while step >= F(1, 100):
                if x + step <= s and x + step + self.interest_on(x + step, day) <= s:
                    x += step
                else:
                    step /= 2
            interest = s - x
        unapplied = s - x - interest
        if x > 0:
            self.regenerate(day, nd, x)
        if interest > 0:
            self.prepay_interest.append((day, interest))
        targets = [["prepayment_interest", interest], ["prepayment", x], ["unapplied", unapplied]]
        targets = [t for t in targets if t[1] > 0]
        for rid, amount, source in sources:
            left = amount
            while left > 0 and targets:
                paid = min(left, targets[0][1])
                out.append((rid, 0, targets[0][0], paid, source))
                left -= paid
                targets[0][1] -= paid
                if targets[0][1] == 0:
                    targets.pop(0)

    def regenerate(self, day, nd, x):
        future = [i for i in self.insts if i.due > day]
        slots = [(i.period, i.due, self.broken if i.period == 1 else None) for i in future]
        bal = nd - x
        shorter = self.prepayment == "shorter-term" and len(slots) > 1
        first = future[0]
        if self.method == "equal-installment" and shorter:
            plan = ("installment", first.principal + first.interest)
        elif self.method == "equal-principal" and shorter:
            plan = ("principal", first.principal)
        elif self.method == "bullet":
            plan = ("bullet",)
        elif self.method == "equal-installment":
            n, r = len(slots), self.annual / 12
            plan = ("installment", half_up(bal / n) if r == 0 else half_up(bal * r * (1 + r) ** n / ((1 + r) ** n - 1)))
        elif self.method == "equal-principal":
            plan = ("principal", half_up(bal / len(slots)))
        else:
            plan = ("interest-only",)
        rows = amortize(bal, self.annual, self.basis, slots, plan, self.months, shorter) if bal > 0 else []
        self.insts = [i for i in self.insts if i.due <= day] + [Inst(r) for r in rows]
        self.regenerations.append((day, x, rows))

    # -- the day ----------------------------------------------------------
    def accrued_total(self, day):
        total, start = F(0), self.start
        for i in self.insts:
            n = (i.due - start).days
            elapsed = (day - start).days + 1
            if elapsed <= 0:
                part = F(0)
            elif elapsed >= n:
                part = i.interest
            else:
                part = half_up(i.interest * elapsed / n)
            total += part
            start = i.due
        return total + sum((a for d, a in self.prepay_interest if d <= day), F(0))

    def run(self, receipts, until):
        """receipts: [(id, day, amount)]. Returns the last day's figures."""
        day = self.start
        before = F(0)
        while day <= until:
            if day == until and day > self.start:
                before = self.accrued_total(day - datetime.timedelta(days=1))
            out = []
            held, self.advance = self.advance, []
            for rid, amount in held:
                left = self.allocate(day, amount, rid, "advance", out)
                if left > 0:
                    self.advance.append((rid, left))
            for rid, d, amount in sorted(receipts, key=lambda r: r[0]):
                if d != day:
                    continue
                surplus = self.allocate(day, F(amount), rid, "receipt", out)
                if surplus > 0 and self.early == "hold":
                    out.append((rid, 0, "advance", surplus, "receipt"))
                    self.advance.append((rid, surplus))
                elif surplus > 0:
                    self.prepay(day, [(rid, surplus, "receipt")], out)
            if self.early == "hold" and self.advance:
                held = sum((a for _, a in self.advance), F(0))
                nd = self.not_due(day)
                if held >= nd + self.interest_on(nd, day):
                    sources = [(rid, a, "advance") for rid, a in self.advance]
                    self.advance = []
                    self.prepay(day, sources, out)
            for i in self.insts:
                i.today_units = F(0)
                if i.due < day and i.principal - i.paid_p > 0:
                    i.units += (i.principal - i.paid_p) * self.rate
                    i.today_units = (i.principal - i.paid_p) * self.rate
            self.out = out
            day += datetime.timedelta(days=1)
        self.accrued = self.accrued_total(until) - before
        return self

    def overdue_rows(self, until):
        b = self.basis
        return [(i.period, str(i.due), (until - i.due).days, fmt(i.principal - i.paid_p), fmt(i.interest - i.paid_i),
                 fmt(half_up(i.today_units / b)), fmt(i.penalty(b)), fmt(i.penalty(b) - i.paid_pen),
                 fmt(i.owed(b))) for i in self.insts if i.due <= until and i.owed(b) > 0]


def show_eod(title, eod, until):
    print(f"# {title}, end of {until}")
    for rid, period, comp, amount, source in eod.out:
        print(f"#   {rid} {period} {comp}{'_from_advance' if source == 'advance' else ''} {fmt(amount)}")
    for row in eod.overdue_rows(until):
        print("#   overdue", ",".join(str(x) for x in row))
    print(f"#   outstanding {fmt(sum((i.principal - i.paid_p for i in eod.insts), F(0)))} advance "
          f"{fmt(sum((a for _, a in eod.advance), F(0)))} accrued {fmt(eod.accrued)}")


def d(text):
    return datetime.date.fromisoformat(text)


def demo(until="2026-11-21", early_payment="hold"):
    """The demo book (fixtures/repayment) at the end of `until`: overdue.csv
    and loans.csv rows as the job writes them."""
    import csv
    import os
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "repayment")
    receipts = {}
    for r in csv.DictReader(open(os.path.join(here, "repayments.csv"))):
        receipts.setdefault(r["loan_id"], []).append((r["repayment_id"], d(r["received_on"]), r["amount"]))
    until = d(until)
    print(f"# demo book at the end of {until} (early_payment = {early_payment})")
    for row in csv.reader(open(os.path.join(here, "loans.csv"))):
        if row[0] == "loan_id":
            continue
        loan_id, principal, annual, months, method, start = row[:6]
        start = d(start)
        if start > until:
            continue
        day = int(row[6]) if row[6] else None
        basis = int(row[7]) if row[7] else 360
        penalty_rate = row[8] if len(row) > 8 and row[8] else None
        eod = Eod(principal, annual, int(months), method, start, day, basis,
                  penalty_rate=penalty_rate, early_payment=early_payment)
        eod.run(receipts.get(loan_id, []), until)
        b = eod.basis
        for row in eod.overdue_rows(until):
            print(f'"{loan_id},' + ",".join(str(x) for x in row) + '",')
        out = eod.out
        def total(comps, source=None):
            return sum((a for _, _, c, a, s in out if c in comps and (source is None or s == source)), F(0))
        received = sum((F(a) for _, dd, a in receipts.get(loan_id, []) if dd == until), F(0))
        overdue = [i for i in eod.insts if i.due <= until and i.owed(b) > 0]
        status = "settled" if all(i.owed(b) == 0 for i in eod.insts) else ("overdue" if overdue else "active")
        days = max(((until - i.due).days for i in overdue), default=0)
        cols = [loan_id, method, status,
                fmt(sum((i.principal - i.paid_p for i in eod.insts), F(0))),
                fmt(sum((i.principal - i.paid_p for i in overdue), F(0))),
                fmt(sum((i.interest - i.paid_i for i in overdue), F(0))),
                fmt(sum((i.penalty(b) - i.paid_pen for i in overdue), F(0))),
                str(days), fmt(received),
                fmt(total({"principal", "prepayment"})), fmt(total({"interest", "prepayment_interest"})),
                fmt(total({"penalty"})), fmt(total({"advance"})),
                fmt(sum((a for _, _, _, a, s in out if s == "advance"), F(0))),
                fmt(sum((a for _, a in eod.advance), F(0))), fmt(total({"unapplied"})), fmt(eod.accrued)]
        print('# loans.csv "' + ",".join(cols) + '",')
        for rid, period, comp, amount, source in out:
            print(f"#   {rid} {period} {comp}{'_from_advance' if source == 'advance' else ''} {fmt(amount)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "demo":
        demo(*sys.argv[2:])


def scenarios():
    """Expected values of the end-of-day tests (src/jobs/repayment/eod.rs, tests/repayment.rs)."""
    base = ("10000.00", "0.12", 12, "equal-installment", d("2026-01-15"))
    r1, r2 = ("R1", d("2026-02-20"), "500.00"), ("R2", d("2026-02-25"), "5000.00")
    for until, early in (("2026-02-15", "prepay"), ("2026-02-20", "prepay"), ("2026-02-24", "prepay"),
                         ("2026-02-25", "prepay"), ("2026-02-25", "hold")):
        show_eod(f"T1 with R1, R2 ({early})", Eod(*base, early_payment=early).run([r1, r2], d(until)), d(until))
    for mode in ("shorter-term", "lower-installment"):
        eod = Eod(*base, early_payment="prepay", prepayment=mode).run([r1, r2], d("2026-02-25"))
        print(f"# regeneration ({mode}) of 2026-02-25, prepaid {fmt(eod.regenerations[0][1])}")
        for k, due, inst, prin, intr, bal in eod.regenerations[0][2]:
            print(f'(({k}, "{due}", "{fmt(inst)}", "{fmt(prin)}", "{fmt(intr)}", "{fmt(bal)}"),')
    # Rule 1: payoffs.
    for payoff in ("accrued", "current_period"):
        eod = Eod(*base, payoff_interest=payoff).run(
            [("P1", d("2026-02-15"), "888.49"), ("P2", d("2026-03-01"), "9500.00")], d("2026-03-01"))
        show_eod(f"payoff of T1 on 2026-03-01 ({payoff})", eod, d("2026-03-01"))
    for until in ("2026-07-15", "2027-01-14"):
        eod = Eod("10000.00", "0.12", 12, "bullet", d("2026-01-15")).run([("B1", d(until), "12000.00")], d(until))
        show_eod("bullet 10000 @ 12 % paid off", eod, d(until))
    eod = Eod(*base, early_payment="prepay").run(
        [("P1", d("2026-02-15"), "888.49"), ("P2", d("2026-03-01"), "5000.00")], d("2026-03-01"))
    show_eod("partial prepayment of 5000.00 on 2026-03-01 (prepay, accrued)", eod, d("2026-03-01"))
    # Rule 2: one day early.
    for early in ("hold", "prepay"):
        eod = Eod(*base, early_payment=early).run([("E1", d("2026-02-14"), "888.49")], d("2026-02-16"))
        show_eod(f"888.49 paid on 2026-02-14 ({early})", eod, d("2026-02-16"))
    # Rule 4: penalty rate of its own, exact.
    eod = Eod("3000.00", "0", 6, "equal-installment", d("2026-01-15"), penalty_rate="0.18").run([], d("2026-03-16"))
    show_eod("0 % loan, penalty_rate 0.18", eod, d("2026-03-16"))
    # Rule 5: accruals of each method's first period add up to its billed interest.
    for method in ("equal-installment", "equal-principal", "interest-only", "bullet"):
        for day in (None, 1):
            eod = Eod("10000.00", "0.12", 12, method, d("2026-01-15"), day)
            first = eod.insts[0]
            total, day_ = F(0), d("2026-01-15")
            while day_ < first.due:
                total += Eod("10000.00", "0.12", 12, method, d("2026-01-15"), day).run([], day_).accrued
                day_ += datetime.timedelta(days=1)
            print(f"# accrual {method} repayment day {day}: first period billed {fmt(first.interest)}, "
                  f"accrued {fmt(total)} over {(first.due - d('2026-01-15')).days} days")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "scenarios":
        scenarios()


if __name__ == "__main__" and len(sys.argv) == 1:
    print("# demo LN-1001: 50000.00 at 0.12 for 12 months, equal installment, from 2026-11-21")
    for k, due, inst, prin, intr, bal in schedule("50000.00", "0.12", 12, "equal-installment", d("2026-11-21")):
        print(f"{k},{due},{fmt(inst)},{fmt(prin)},{fmt(intr)},{fmt(bal)}")
    print("# demo LN-1005 under early_payment = prepay: 60000.00 at 0.108 for 24 months from")
    print("# 2025-12-21, periods 1-11 paid, 20000.00 more on the due date 2026-11-21 (0 days of")
    print("# interest on the prepaid principal), shorter term")
    receipts = [(f"RP-{30 + k:04d}", due_date(d("2025-12-21"), k, 21), "2790.90") for k in range(1, 11)]
    receipts.append(("RP-0041", d("2026-11-21"), "22790.90"))
    eod = Eod("60000.00", "0.108", 24, "equal-installment", d("2025-12-21"), early_payment="prepay")
    eod.run(receipts, d("2026-11-21"))
    for k, due, inst, prin, intr, bal in eod.regenerations[0][2]:
        print(f"{k},{due},{fmt(inst)},{fmt(prin)},{fmt(intr)},{fmt(bal)}")
