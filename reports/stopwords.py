"""Stop words left out of popular phrases: the most frequent function words of the
chats' three languages (English, Russian, Italian), lowercased as the tokenizer
leaves them (an apostrophe splits a word: "don't" → "don", "t"; "l'acqua" → "l",
"acqua"). Short on purpose: a word that carries meaning in a support chat ("order",
"help", "price") is kept."""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENGLISH = _words(
    """
    a about above after again against all am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his
    how i if in into is it its itself just me more most my myself no nor not now of off
    on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through
    to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves ok okay hi hello s t m d ll re ve don
    doesn didn isn aren wasn can please thanks thank yes
    """
)

RUSSIAN = _words(
    """
    а без более бы был была были было быть в вам вас весь во вот все всего всех вы где
    да даже для до его ее её если есть еще ещё же за здесь и из или им их к как какая
    какой когда кто ли либо мне может мы на над надо наш не него нее неё нет ни них но
    ну о об однако он она они оно от очень по под при про с со так также такой там те
    тем то того тоже той только том ты у уже хотя чего чей чем что чтобы чье чья эта эти
    это этот я меня мой моя мои мое моё вы ваш ваша себя свой сейчас тут будет буду
    здравствуйте привет пожалуйста спасибо да
    """
)

ITALIAN = _words(
    """
    a ad al alla alle allo agli ai anche avere c che chi ci come con contro cui da dal
    dalla dalle dallo dagli dai degli dei del della delle dello di dove e è ed era erano
    essere gli ha hai hanno ho i il in io la le lei li lo loro lui ma me mi mia mie miei
    mio ne nei nel nella nelle nello negli noi non nostro nostra o per perché più quale
    quando quella quelle quelli quello questa queste questi questo se sei si sia siamo
    siete sono su sua sue sui sul sulla suo suoi ti tra tu tua tue tuo tuoi un una uno
    vi voi l dell all nell sull dall ciao grazie salve buongiorno sì
    """
)

STOP_WORDS = ENGLISH | RUSSIAN | ITALIAN
