"""A person writing in a work, volunteering, training or study role (hazard H56): a volunteer at Rape Crisis asking
for leaflets, a nursing student's project on self-harm. The role guards (English G-ROLE-01 and one in each other
language's lexicon) read only the organisation's name or the topic word, so a client's words, asking for Rape
Crisis and the writer's own crisis beside the role keep the alarm."""
from __future__ import annotations

import pytest

from bot import crisis

IN_A_ROLE = [
    "I'm a volunteer at Rape Crisis Scotland, can I refer mums to you?",
    "I'm doing a nursing project on postpartum psychosis and self-harm, do you have leaflets?",
    "Jestem wolontariuszką w Rape Crisis Scotland, czy macie ulotki po polsku?",
    "Bună ziua, sunt voluntară la Rape Crisis și uneori vorbim cu femei însărcinate. Pot să le recomand serviciul vostru?",
    "Я волонтерка в Rape Crisis Scotland, чи є у вас матеріали українською?",
    "ana mutatawi3a ma3 Rape Crisis Scotland, w 3am nshtighil 3ala tarjamet manshourat lal 3arabi",
    "Rape Crisis helpline pe volunteer hoon. Kabhi kabhi pregnant callers aati hain, kya hum unhein refer kar sakte hain?",
    "mere nursing course da ik project aa perinatal mental health te, khaas karke postpartum psychosis te self-harm. "
    "Tuhade kol Punjabi ch koi leaflets ne?",
    "我在rape crisis中心做volunteer，有几位讲中文的服务对象刚生完孩子，你们有中文小组吗",
]
STILL_A_CRISIS = [
    # a client's words, and asking for Rape Crisis (any mention of rape counts: data/crisis/lexicon.yml)
    ("a Rape Crisis volunteer called me back today", "sexual_violence"),
    ("rape crisis volunteer ne mainu phone kitta", "sexual_violence"),
    ("Is there a Rape Crisis centre in Dundee?", "sexual_violence"),
    ("Dajcie mi numer do Rape Crisis", "sexual_violence"),
    # the writer's own crisis beside the role
    ("I volunteer at Rape Crisis and last week I was raped", "sexual_violence"),
    ("I'm a nursing student and I've been self-harming", "suicide_self_harm"),
    ("Jestem wolontariuszką w Rape Crisis i w zeszłym tygodniu zostałam zgwałcona", "sexual_violence"),
    ("Sunt la un curs despre autovătămare și m-am tăiat din nou aseară.", "suicide_self_harm"),
    ("我在 Rape Crisis 做义工，但是我自己也被强奸过", "sexual_violence"),
    ("main volunteer haan te main khudkushi karna chaundi haan", "suicide_self_harm"),
]


@pytest.mark.parametrize("text", IN_A_ROLE)
def test_a_person_writing_in_a_work_or_study_role_gets_no_crisis_signal(text):
    assert crisis.detect_all(text) == [], text


@pytest.mark.parametrize("text, category", STILL_A_CRISIS)
def test_a_clients_words_asking_for_rape_crisis_and_the_writers_own_crisis_keep_the_alarm(text, category):
    assert category in [s.category for s in crisis.detect_all(text)], text
