"""A realistic, deterministic clinic network for the demo and the benchmark (``ident demo-data``).

Three branches (two in Moscow, one in Yekaterinburg, two hours ahead, to exercise timezones), 25
doctors with dental specialties, each at one or two branches, shifts of 09:00–15:00 or 14:00–21:00
local time five or six days a week (with the odd day off), and appointments of 15–60 minutes: about
two thirds of shift time booked over the past week and the next few days, thinning further out, about
5 % cancelled (some of those rebooked). The same seed and the same day give the same network.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ident_integrations.records.patients import Patient
from ident_integrations.records.schedule import Appointment, Branch, Doctor, WorkInterval

DAYS_BACK = 7
DEFAULT_DAYS_AHEAD = 35
DEFAULT_SEED = 1
DOCTOR_COUNT = 25
EXCLUDED_DOCTOR = 25  # excluded from the export by the demo's rules, so "use_rules" shows a difference
VISIT_MINUTES = (15, 30, 45, 60)
VISIT_WEIGHTS = (2, 4, 2, 2)  # mean 36 minutes
CANCELLED_SHARE = 0.05
SHIFTS = ((time(9), time(15)), (time(14), time(21)))

BRANCHES = (
    Branch(1, "Стоматология «Улыбка» на Тверской", "Europe/Moscow", "г. Москва, ул. Тверская, д. 18, стр. 1",
           "+74952230118"),
    Branch(2, "Стоматология «Улыбка» на Профсоюзной", "Europe/Moscow", "г. Москва, ул. Профсоюзная, д. 56",
           "+74957180256"),
    Branch(3, "Стоматология «Улыбка» в Екатеринбурге", "Asia/Yekaterinburg", "г. Екатеринбург, ул. Малышева, д. 51",
           "+73432870051"),
)  # fmt: skip
CITY_STREETS = {
    "Europe/Moscow": ("г. Москва", (
        "ул. Тверская", "ул. Арбат", "Ленинский пр-т", "ул. Профсоюзная", "ул. Новый Арбат", "Кутузовский пр-т",
        "ул. Большая Якиманка", "ул. Мясницкая", "ул. Покровка", "ул. Маросейка", "пр-т Мира", "ул. Сретенка",
        "Ленинградский пр-т", "ул. Вавилова", "ул. Дмитрия Ульянова", "ул. Гарибальди", "ул. Обручева",
        "Мичуринский пр-т", "ул. Академика Янгеля", "Варшавское ш.", "ул. Бутлерова", "ул. Островитянова",
        "Каширское ш.", "ул. Бориса Галушкина", "ул. Краснопролетарская", "Волгоградский пр-т",
    )),
    "Asia/Yekaterinburg": ("г. Екатеринбург", (
        "ул. Малышева", "ул. Ленина", "ул. 8 Марта", "ул. Белинского", "ул. Куйбышева", "ул. Вайнера",
        "ул. Радищева", "ул. Мамина-Сибиряка", "ул. Щорса", "ул. Фрунзе",
    )),
}  # fmt: skip
SPECIALTIES = (
    "Стоматолог-терапевт", "Стоматолог-терапевт", "Стоматолог-терапевт", "Стоматолог-хирург", "Стоматолог-ортопед",
    "Ортодонт", "Детский стоматолог", "Пародонтолог", "Гигиенист стоматологический", "Имплантолог", "Эндодонтист",
)  # fmt: skip
# (male form, female form) surnames; first names and patronymics by sex.
SURNAMES = (
    ("Иванов", "Иванова"), ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"), ("Попов", "Попова"),
    ("Васильев", "Васильева"), ("Петров", "Петрова"), ("Соколов", "Соколова"), ("Михайлов", "Михайлова"),
    ("Новиков", "Новикова"), ("Фёдоров", "Фёдорова"), ("Морозов", "Морозова"), ("Волков", "Волкова"),
    ("Алексеев", "Алексеева"), ("Лебедев", "Лебедева"), ("Семёнов", "Семёнова"), ("Егоров", "Егорова"),
    ("Павлов", "Павлова"), ("Козлов", "Козлова"), ("Степанов", "Степанова"), ("Николаев", "Николаева"),
    ("Орлов", "Орлова"), ("Андреев", "Андреева"), ("Макаров", "Макарова"), ("Никитин", "Никитина"),
    ("Захаров", "Захарова"), ("Зайцев", "Зайцева"), ("Соловьёв", "Соловьёва"), ("Борисов", "Борисова"),
    ("Яковлев", "Яковлева"), ("Григорьев", "Григорьева"), ("Романов", "Романова"), ("Воробьёв", "Воробьёва"),
    ("Сергеев", "Сергеева"), ("Кузьмин", "Кузьмина"), ("Фролов", "Фролова"), ("Александров", "Александрова"),
    ("Дмитриев", "Дмитриева"), ("Королёв", "Королёва"), ("Гусев", "Гусева"), ("Киселёв", "Киселёва"),
)  # fmt: skip
FIRST_NAMES = {
    "m": ("Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья", "Кирилл", "Михаил",
          "Никита", "Олег", "Павел", "Роман", "Евгений", "Владимир", "Игорь", "Константин"),
    "f": ("Анна", "Мария", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Екатерина", "Светлана", "Юлия",
          "Анастасия", "Дарья", "Ксения", "Марина", "Виктория", "Полина", "Алина", "Вера"),
}  # fmt: skip
PATRONYMIC_ROOTS = (
    ("Александрович", "Александровна"), ("Дмитриевич", "Дмитриевна"), ("Сергеевич", "Сергеевна"),
    ("Андреевич", "Андреевна"), ("Алексеевич", "Алексеевна"), ("Михайлович", "Михайловна"),
    ("Владимирович", "Владимировна"), ("Игоревич", "Игоревна"), ("Олегович", "Олеговна"),
    ("Павлович", "Павловна"), ("Викторович", "Викторовна"), ("Николаевич", "Николаевна"),
    ("Юрьевич", "Юрьевна"), ("Евгеньевич", "Евгеньевна"), ("Иванович", "Ивановна"),
)  # fmt: skip
TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        ("a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch  y  e yu ya").split(" "),
        strict=True,
    )
)
MAIL_DOMAINS = ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "rambler.ru")


@dataclass(frozen=True)
class DemoNetwork:
    branches: tuple[Branch, ...]
    doctors: tuple[Doctor, ...]
    doctor_branches: tuple[tuple[int, int], ...]
    work_intervals: tuple[WorkInterval, ...]
    patients: tuple[Patient, ...]
    appointments: tuple[Appointment, ...]
    excluded_doctors: tuple[int, ...]
    doctors_added_at: datetime  # when the staff was "added": before any exclusion, so all are exported
    first_day: date
    last_day: date


def _person(rng: random.Random) -> tuple[str, str, str, str]:
    """(surname, first name, patronymic, sex)."""
    sex = rng.choice("mf")
    index = 0 if sex == "m" else 1
    return rng.choice(SURNAMES)[index], rng.choice(FIRST_NAMES[sex]), rng.choice(PATRONYMIC_ROOTS)[index], sex


def _latin(text: str) -> str:
    return "".join(TRANSLIT.get(ch, ch) for ch in text.lower())


def _doctors(rng: random.Random) -> tuple[list[Doctor], list[tuple[int, int]]]:
    doctors, links, names = [], [], set()
    # Yekaterinburg has its own staff (nobody commutes 1,800 km); Moscow doctors work at one or both.
    for doctor_id in range(1, DOCTOR_COUNT + 1):
        while True:
            surname, first, patronymic, _ = _person(rng)
            name = f"{surname} {first} {patronymic}"
            if name not in names:
                names.add(name)
                break
        specialty = SPECIALTIES[(doctor_id - 1) % len(SPECIALTIES)]
        doctors.append(Doctor(doctor_id, name, specialty))
        if doctor_id <= 6:
            links.append((doctor_id, 3))
        else:
            at = rng.choice(((1,), (2,), (1, 2), (1, 2)))
            links.extend((doctor_id, branch_id) for branch_id in at)
    return doctors, links


def _patients(rng: random.Random, count: int, timezone: str, first_id: int) -> list[Patient]:
    city, streets = CITY_STREETS[timezone]
    patients = []
    for offset in range(count):
        surname, first, patronymic, _ = _person(rng)
        patient_id = first_id + offset
        email = None
        if rng.random() < 0.7:
            email = f"{_latin(first)}.{_latin(surname)}{rng.randint(1, 999)}@{rng.choice(MAIL_DOMAINS)}"
        flat = f", кв. {rng.randint(1, 320)}" if rng.random() < 0.9 else ""
        address = f"{city}, {rng.choice(streets)}, д. {rng.randint(1, 120)}{flat}"
        phone = f"+79{rng.randint(0, 99):02d}{rng.randint(0, 9_999_999):07d}"
        patients.append(Patient(patient_id, surname, first, patronymic if rng.random() < 0.95 else None, phone, email,
                                address))  # fmt: skip
    return patients


def booked_share(days_from_today: int, rng: random.Random) -> float:
    """How much of a shift is booked: about two thirds in the past and the next three days, less
    and less further out."""
    if days_from_today <= 3:
        return rng.uniform(0.64, 0.78)
    if days_from_today <= 7:
        return rng.uniform(0.45, 0.6)
    if days_from_today <= 14:
        return rng.uniform(0.3, 0.45)
    if days_from_today <= 21:
        return rng.uniform(0.15, 0.3)
    return rng.uniform(0.03, 0.15)


def _status(starts_at: datetime, now: datetime, draw: float) -> str:
    """An appointment's status by where it lies from now. One random ``draw`` whatever the case, so
    the rest of the network does not depend on the hour it is generated at."""
    if starts_at < now - timedelta(hours=1):
        return "no_show" if draw < 0.05 else "completed"
    if starts_at <= now:
        return "arrived"
    return "confirmed" if starts_at - now < timedelta(days=2) and draw < 0.7 else "planned"


def generate(
    seed: int = DEFAULT_SEED, days_ahead: int = DEFAULT_DAYS_AHEAD, now: datetime | None = None
) -> DemoNetwork:
    """The network for the clinic's (Moscow) days from today − 7 to today + ``days_ahead``; each
    branch's shifts are in its own local time."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    doctors, links = _doctors(rng)
    patients = [*_patients(rng, 1500, "Europe/Moscow", 1), *_patients(rng, 500, "Asia/Yekaterinburg", 1501)]
    pool = {1: patients[:1500], 2: patients[:1500], 3: patients[1500:]}
    branch_by_id = {branch.id: branch for branch in BRANCHES}
    doctor_branches: dict[int, list[int]] = {}
    for doctor_id, branch_id in links:
        doctor_branches.setdefault(doctor_id, []).append(branch_id)

    shifts: list[WorkInterval] = []
    booked: list[Appointment] = []
    today = now.astimezone(ZoneInfo("Europe/Moscow")).date()
    first_day, last_day = today - timedelta(days=DAYS_BACK), today + timedelta(days=days_ahead)
    for doctor in doctors:
        at = doctor_branches[doctor.id]
        days_off = set(rng.sample(range(7), rng.choice((1, 2, 2))))  # 5 or 6 days a week
        evening_doctor = rng.random() < 0.5  # mostly mornings or mostly evenings
        for offset in range(-DAYS_BACK, days_ahead + 1):
            day = today + timedelta(days=offset)
            if day.weekday() in days_off or rng.random() < 0.03:  # the odd day off (a course, a cold)
                continue
            branch = branch_by_id[at[0] if len(at) == 1 else at[(day.toordinal() + doctor.id) % 2]]
            zone = ZoneInfo(branch.timezone)
            start_time, end_time = SHIFTS[int(evening_doctor) if rng.random() < 0.8 else 1 - int(evening_doctor)]
            starts_at = datetime.combine(day, start_time, zone).astimezone(UTC)
            ends_at = datetime.combine(day, end_time, zone).astimezone(UTC)
            shifts.append(WorkInterval(doctor.id, branch.id, starts_at, ends_at))
            booked.extend(_book(rng, doctor.id, branch.id, starts_at, ends_at, offset, now, pool[branch.id]))
    appointments = tuple(
        Appointment(i, a.doctor_id, a.branch_id, a.starts_at, a.ends_at, a.status, a.patient_id)
        for i, a in enumerate(booked, start=1)
    )
    return DemoNetwork(
        branches=BRANCHES,
        doctors=tuple(doctors),
        doctor_branches=tuple(links),
        work_intervals=tuple(shifts),
        patients=tuple(patients),
        appointments=appointments,
        excluded_doctors=(EXCLUDED_DOCTOR,),
        doctors_added_at=datetime.combine(first_day - timedelta(days=365), time(), UTC),
        first_day=first_day,
        last_day=last_day,
    )


def _book(
    rng: random.Random,
    doctor_id: int,
    branch_id: int,
    starts_at: datetime,
    ends_at: datetime,
    offset: int,
    now: datetime,
    pool: list[Patient],
) -> list[Appointment]:
    """One shift's appointments: walking the shift in 15-minute steps, a visit starts at a step
    with the probability that books the chosen share of it (mean visit 36 min: p = 15f / (36 − 21f))."""
    share = booked_share(offset, rng)
    p = 15 * share / (36 - 21 * share)
    step = timedelta(minutes=15)
    cursor, result = starts_at, []
    while cursor + step <= ends_at:
        if rng.random() >= p:
            cursor += step
            continue
        minutes = rng.choices(VISIT_MINUTES, VISIT_WEIGHTS)[0]
        end = min(cursor + timedelta(minutes=minutes), ends_at)
        patient = rng.choice(pool).id
        if rng.random() < CANCELLED_SHARE:
            result.append(Appointment(0, doctor_id, branch_id, cursor, end, "cancelled", patient))
            if rng.random() < 0.3:  # the freed time taken by someone else, shorter
                rebooked = cursor + timedelta(minutes=rng.choice([m for m in VISIT_MINUTES if m <= minutes]))
                rebooked = min(rebooked, end)
                patient = rng.choice(pool).id
                result.append(
                    Appointment(0, doctor_id, branch_id, cursor, rebooked, _status(cursor, now, rng.random()), patient)
                )
        else:
            result.append(
                Appointment(0, doctor_id, branch_id, cursor, end, _status(cursor, now, rng.random()), patient)
            )
        cursor = end
    return result
