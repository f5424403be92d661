"""Deterministic demo leads ("заявки") for the clinic_http service.

Every lead is a pure function of (seed, tenant, index) and the sandbox start time:
  * indexes ``0 .. back_count-1`` are the back catalogue, ``LEADS_PER_DAY`` a day spread over the
    ``days`` before the start (stratified random times, so ids grow with time like a real site DB);
  * index ``back_count + j`` is the j-th live lead, arriving ``(j+1) * live_interval`` s after start.
Nothing runs in the background: visibility is computed from the clock on each request.

About 1 lead in ``INVALID_EVERY`` is invalid on purpose (see ``DEFECT_KINDS``); the intended defect
is kept in ``Lead.defect`` (a side table), never in the JSON.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from .clock import format_iso
from .faults import stable_int

LEADS_PER_DAY = 40
INVALID_EVERY = 10
DEFECT_KINDS = (
    "phone_missing",  # no ClientPhone key at all
    "phone_empty",  # ClientPhone = ""
    "phone_with_text",  # number followed by free text
    "phone_plus_domestic",  # "+89110001122": domestic 8-prefix with a wrong "+"
    "both_name_forms",  # ClientFullName and ClientSurname both set
    "plan_end_before_start",  # PlanEnd earlier than PlanStart
    "plan_too_long",  # PlanEnd more than 12 h after PlanStart
)

# fmt: off
SURNAMES = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
            "Новиков", "Фёдоров", "Морозов", "Волков", "Лебедев", "Семёнов", "Егоров", "Павлов",
            "Козлов", "Степанов", "Николаев", "Орлов"]  # all -ов/-ев: the female form adds "а"
MALE_NAMES = ["Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья",
              "Кирилл", "Михаил", "Никита", "Иван"]
FEMALE_NAMES = ["Анна", "Мария", "Елена", "Ольга", "Наталья", "Татьяна", "Екатерина", "Ирина",
                "Светлана", "Юлия", "Дарья", "Ксения"]
PATRONYMICS = [("Александрович", "Александровна"), ("Дмитриевич", "Дмитриевна"),
               ("Сергеевич", "Сергеевна"), ("Андреевич", "Андреевна"), ("Алексеевич", "Алексеевна"),
               ("Михайлович", "Михайловна"), ("Иванович", "Ивановна"),
               ("Владимирович", "Владимировна"), ("Николаевич", "Николаевна"), ("Павлович", "Павловна")]
DOCTORS = [(12, "Смирнова Ольга Викторовна"), (15, "Ахмедов Руслан Тимурович"),
           (21, "Ковалёв Игорь Петрович"), (34, "Белова Анастасия Сергеевна"),
           (40, "Захаров Денис Олегович"), (57, "Григорьева Марина Андреевна")]
FORMS = ["Запись на приём", "Обратный звонок", "Консультация имплантолога",
         "Бесплатная консультация ортодонта", "Квиз: стоимость лечения",
         "Акция: профгигиена за 2990", "Онлайн-запись"]
COMMENTS = ["Болит зуб справа внизу, можно побыстрее", "Интересует стоимость имплантации под ключ",
            "Нужна консультация для ребёнка 7 лет", "Хочу поставить брекеты, сколько стоит?",
            "Перезвоните, пожалуйста, в обед", "Скол на переднем зубе", "Профчистка по акции", ""]
PHONE_TEXTS = ["звоните после 18", "только WhatsApp", "(мама), звонить вечером"]
MOBILE_CODES = ["911", "921", "931", "981", "903", "905", "916", "925", "926", "977", "999", "952"]
EMAIL_DOMAINS = ["mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru"]
UTM_SOURCES = [("yandex", "cpc"), ("google", "cpc"), ("vk", "social"), ("telegram", "social"),
               ("2gis", "referral"), ("email", "newsletter")]
UTM_CAMPAIGNS = ["implant_spb", "braces_2025", "hygiene_promo", "brand", "kids_dentistry"]
UTM_TERMS = ["имплантация зубов цена", "брекеты", "стоматология рядом", "чистка зубов"]
UTM_CONTENTS = ["banner_1", "text_ad_a", "story", "cta_button"]
PAGES = ["", "implantatsiya", "ortodontiya/brekety", "akcii/profgigiena", "kontakty", "vrachi"]
SEARCH_REFERERS = ["https://yandex.ru/", "https://www.google.com/", "https://ya.ru/"]

_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o",
                      "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e",
                      "yu", "ya"], strict=True))
# fmt: on


@dataclass(frozen=True)
class Lead:
    index: int
    id: str
    arrival: datetime  # exact moment it becomes visible (DateAndTime is this, cut to seconds)
    ticket: dict  # the JSON object served by GetTickets
    defect: str | None  # intended defect (one of DEFECT_KINDS) or None; never sent


class Arrivals:
    """When item ``index`` of a deterministic stream appears (leads, appointments…): indexes
    ``0 .. back_count-1`` are the back catalogue, ``per_day`` a day over the ``days`` before the
    start at stratified random times (one per slot, so times grow with the index); index
    ``back_count + j`` is the j-th live item, ``(j+1) * live_interval`` s after the start."""

    def __init__(
        self, seed: int, stream: str, start_time: datetime, days: int, per_day: int, live_interval: float
    ) -> None:
        self.seed, self._stream, self.start_time, self.live_interval = seed, stream, start_time, live_interval
        self.back_count = per_day * max(days, 0)
        self._window = timedelta(days=max(days, 0))

    def arrival(self, index: int) -> datetime:
        if index < self.back_count:
            u = random.Random(stable_int(self.seed, self._stream, "time", index)).random()
            return self.start_time - self._window + self._window * ((index + u) / self.back_count)
        return self.start_time + timedelta(seconds=(index - self.back_count + 1) * self.live_interval)

    def visible_count(self, now: datetime) -> int:
        """Items (back catalogue + live) whose arrival is <= now."""
        if now < self.start_time or self.live_interval <= 0:
            return self.back_count
        live = int((now - self.start_time).total_seconds() // self.live_interval)
        # Guard float rounding at the boundary so this agrees exactly with arrival().
        while self.arrival(self.back_count + live) <= now:
            live += 1
        while live > 0 and self.arrival(self.back_count + live - 1) > now:
            live -= 1
        return self.back_count + live


class LeadGenerator(Arrivals):
    """Leads of one tenant. Cheap to build; leads are generated on first use and cached."""

    def __init__(
        self, seed: int, tenant: str, start_time: datetime, tz: tzinfo, days: int = 7, live_interval: float = 20.0
    ) -> None:
        super().__init__(seed, tenant, start_time, days, LEADS_PER_DAY, live_interval)
        self.tenant, self.tz = tenant, tz
        # Ids carry the start minute: a restarted sandbox (whose catalogue is laid out relative to
        # its new start) serves new Ids, never an old Id at a new DateAndTime as no real service would.
        self.id_base = int(start_time.timestamp()) // 60 * 1_000_000 + stable_int(seed, tenant, "id-base") % 900_000
        self._defect_phase = stable_int(seed, tenant, "defect-phase") % INVALID_EVERY
        self._kind_shift = stable_int(seed, tenant, "defect-kind") % len(DEFECT_KINDS)
        self._cache: dict[int, Lead] = {}

    def defect(self, index: int) -> str | None:
        if index % INVALID_EVERY != self._defect_phase:
            return None
        return DEFECT_KINDS[(index // INVALID_EVERY + self._kind_shift) % len(DEFECT_KINDS)]

    def visible(self, now: datetime) -> list[Lead]:
        return [self.lead(i) for i in range(self.visible_count(now))]

    def lead(self, index: int) -> Lead:
        cached = self._cache.get(index)
        if cached is None:
            arrival = self.arrival(index)
            lead_id = str(self.id_base + index)
            defect = self.defect(index)
            rng = random.Random(stable_int(self.seed, self.tenant, "lead", index))
            when = arrival.replace(microsecond=0)
            ticket = build_ticket(rng, lead_id, when, self.tz, defect, self.tenant)
            cached = self._cache[index] = Lead(index, lead_id, arrival, ticket, defect)
        return cached


def build_ticket(rng: random.Random, lead_id: str, when: datetime, tz: tzinfo, defect: str | None, tenant: str) -> dict:
    """One ticket object with the field names of reference §2.4, optional fields omitted at times."""
    ticket: dict = {"Id": lead_id, "DateAndTime": format_iso(when, tz)}

    code, subscriber = rng.choice(MOBILE_CODES), f"{rng.randrange(10**7):07d}"
    if defect == "phone_empty":
        ticket["ClientPhone"] = ""
    elif defect == "phone_with_text":
        number = f"8 {code} {subscriber[:3]}-{subscriber[3:5]}-{subscriber[5:]}"
        ticket["ClientPhone"] = f"{number} {rng.choice(PHONE_TEXTS)}"
    elif defect == "phone_plus_domestic":
        ticket["ClientPhone"] = f"+8{code}{subscriber}"
    elif defect != "phone_missing":
        ticket["ClientPhone"] = _phone(rng, code, subscriber)

    female = rng.random() < 0.6  # clinics get more leads from women
    surname = rng.choice(SURNAMES) + ("а" if female else "")
    name = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
    patronymic = rng.choice(PATRONYMICS)[1 if female else 0]

    if rng.random() < 0.55:
        if rng.random() < 0.5:
            login = f"{_translit(name)}.{_translit(surname)}"
        else:
            login = f"{_translit(surname)}{rng.randint(1, 99)}"
        ticket["ClientEmail"] = f"{login}@{rng.choice(EMAIL_DOMAINS)}"

    _names(rng, ticket, surname, name, patronymic, both=defect == "both_name_forms")

    if rng.random() < 0.9:
        ticket["FormName"] = rng.choice(FORMS)
    roll = rng.random()
    if roll < 0.3:
        ticket["DoctorId"], ticket["DoctorName"] = rng.choice(DOCTORS)
    elif roll < 0.4:
        ticket["DoctorName"] = rng.choice(DOCTORS)[1]  # typed into the form, no id known

    if defect in ("plan_end_before_start", "plan_too_long") or rng.random() < 0.45:
        day = (when.astimezone(tz) + timedelta(days=rng.randint(1, 10))).date()
        start = datetime(day.year, day.month, day.day, rng.randint(9, 19), rng.choice((0, 30)), tzinfo=tz)
        if defect == "plan_end_before_start":
            end = start - timedelta(minutes=rng.choice((30, 60, 120)))
        elif defect == "plan_too_long":
            end = start + timedelta(hours=rng.randint(13, 30))
        else:
            end = start + timedelta(minutes=rng.choice((30, 45, 60, 90)))
        ticket["PlanStart"] = format_iso(start, tz)
        if defect or rng.random() < 0.9:  # a desired start without an end happens too
            ticket["PlanEnd"] = format_iso(end, tz)

    if rng.random() < 0.35:
        ticket["Comment"] = rng.choice(COMMENTS)

    site = f"https://{tenant}.dental-clinic.example/"
    if rng.random() < 0.55:
        source, medium = rng.choice(UTM_SOURCES)
        ticket["UtmSource"], ticket["UtmMedium"] = source, medium
        ticket["UtmCampaign"] = rng.choice(UTM_CAMPAIGNS)
        if medium == "cpc" and rng.random() < 0.7:
            ticket["UtmTerm"] = rng.choice(UTM_TERMS)
        if rng.random() < 0.5:
            ticket["UtmContent"] = rng.choice(UTM_CONTENTS)
        if rng.random() < 0.8:
            ticket["HttpReferer"] = f"{site}{rng.choice(PAGES)}?utm_source={source}&utm_medium={medium}"
    elif rng.random() < 0.6:
        ticket["HttpReferer"] = rng.choice(SEARCH_REFERERS + [site + p for p in PAGES])
    return ticket


def _phone(rng: random.Random, code: str, s: str) -> str | int:
    """A valid number in one of the notations the reference lists as accepted."""
    notation = rng.randrange(10)
    if notation == 0:
        return f"+7 {code} {s[:2]} {s[2:4]} {s[4:]}"  # +7 911 01 01 001
    if notation == 1:
        return f"8-{code}-{s[:3]}-{s[3:]}"  # 8-911-001-0101
    if notation == 2:
        return f"({code}) {s}"  # (911) 0010101
    if notation == 3:
        return f"7({code}){s}"  # 7(777)0010101
    if notation == 4:
        return f"+7 ({code}) {s[:3]}-{s[3:5]}-{s[5:]}"
    if notation == 5:
        return f"8{code}{s}"
    if notation == 6:
        return f"8812-{s[:4]}-{s[4:]}"  # St Petersburg landline, 8812-0000-111
    if notation == 7:
        return int(f"7{code}{s}")  # some site builders send the phone as a JSON number
    return f"+7{code}{s}"


def _names(rng: random.Random, ticket: dict, surname: str, name: str, patronymic: str, both: bool) -> None:
    """Either ClientFullName or the three parts; the other form absent or empty (both = defect)."""
    full_form = rng.random() < 0.5
    if both:
        ticket["ClientFullName"] = f"{surname} {name} {patronymic}"
        ticket["ClientSurname"] = surname
        ticket["ClientName"] = name
        return
    if full_form:
        variant = rng.randrange(4)
        forms = [f"{surname} {name} {patronymic}", f"{name} {surname}", name, f"{surname} {name}"]
        ticket["ClientFullName"] = forms[variant]
        if rng.random() < 0.15:
            ticket["ClientSurname"] = ""  # empty counterpart is allowed
        return
    if rng.random() < 0.15:
        ticket["ClientFullName"] = ""
    variant = rng.randrange(3)
    if variant != 2:
        ticket["ClientSurname"] = surname
    ticket["ClientName"] = name
    if variant == 0:
        ticket["ClientPatronymic"] = patronymic


def _translit(text: str) -> str:
    return "".join(_TRANSLIT.get(ch, ch) for ch in text.lower())
