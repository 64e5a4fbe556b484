"""The words studykit itself puts around the notes (headings, buttons, page headers), in the deck's language.

A Chinese deck's page said "Search questions and answers" and "Showing 15 of 15 questions", and its booklet's
pages "Question 58" and "page 19 of 37", around notes its readers read in Chinese. Each output's templates take
these words from the `text` they are given (`BuildContext.text`): English, or Simplified or Traditional Chinese
for a deck whose `language` is one of those (Hong Kong's written Chinese is Traditional). A language without its
own words here gets the English ones. The English words are those the templates always had, so an English deck's
outputs keep their bytes.

The words a stylesheet writes (`content:` of the page headers and footers) are set by rules added after the
packaged stylesheet (`print_css_rules`): a deck's own stylesheet still comes first and is overridden only there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from generator import fonts, language


@dataclass(frozen=True)
class Messages:
    """Each output's fixed words; `{…}` fields are filled by the template (`str.format`)."""

    language: str  # the BCP 47 tag these words are in
    # The study page.
    skip_to_questions: str = "Skip to the questions"
    page_lead: str = "{count} questions, each with the key points to say aloud and a full answer."
    contents: str = "Contents"
    all_questions: str = "All {count} questions"
    filter_questions: str = "Filter questions"
    search: str = "Search"
    search_placeholder: str = "Search questions and answers"
    topics: str = "Topics"
    quiz_mode: str = "Quiz mode"
    reveal_all: str = "Reveal all"
    hide_all: str = "Hide all"
    hide_known: str = "Hide known"
    showing: str = "Showing {shown} of {total} questions."
    hide_answer: str = "Hide answer"
    show_answer: str = "Show answer"
    key_points: str = "Key points"
    full_answer: str = "Full answer"
    known: str = "I know this one"
    no_match: str = "No question matches."
    built_with: str = "Built with studykit."
    # The booklet.
    booklet_kicker: str = "studykit · full answers"
    booklet_subtitle: str = "The full answer to each of {count} questions, with key points, formulas and code."
    licence: str = "Licence:"
    source: str = "Source:"
    # The cheat sheet.
    sheet_subtitle: str = "Cheat sheet: the key points of {count} questions"
    # The booklet's default page footer ends with it (deck.yaml `footer`).
    full_credit: str = "full credit on the title page"
    # The flashcards.
    card_key_points: str = "key points"
    key_formulas: str = "Key formulas"
    continued: str = "… continued in the deck"
    cards_fronts: str = "flashcards, sheet {sheet} of {sheets}, fronts (print double-sided, flip on the long edge)"
    cards_backs: str = "flashcards, sheet {sheet} of {sheets}, backs"
    # The body `studykit new` writes into a new note.
    new_note_body: str = (
        "## Key points\n\n"
        "- The 20-40-second spoken answer, in three to six bullets.\n\n"
        "## Full answer\n\n"
        "The explanation: why, how, formulas such as $a = b$, code and tables.\n"
    )
    # Page headers and footers of the PDFs, as CSS `content:` values (None: the packaged stylesheet's own).
    css_page_of: str | None = None
    css_question: str | None = None
    css_contents: str | None = None
    css_sheet_header: str | None = None

    def page_words(self) -> tuple[str, ...]:
        """The words the study page shows (the fields down to `built_with`): what its embedded font must hold."""
        names = [field.name for field in fields(self)]
        return tuple(
            getattr(self, name) for name in names[names.index("skip_to_questions") : names.index("built_with") + 1]
        )


ENGLISH = Messages("en")

SIMPLIFIED_CHINESE = replace(
    ENGLISH,
    language="zh-Hans",
    skip_to_questions="跳到题目",
    page_lead="共 {count} 道题，每题有可以口述的要点和完整解答。",
    contents="目录",
    all_questions="全部 {count} 道题",
    filter_questions="筛选题目",
    search="搜索",
    search_placeholder="搜索题目和解答",
    topics="主题",
    quiz_mode="自测模式",
    reveal_all="全部显示",
    hide_all="全部隐藏",
    hide_known="隐藏已掌握",
    showing="显示 {shown} / {total} 道题。",
    hide_answer="隐藏解答",
    show_answer="显示解答",
    key_points="要点",
    full_answer="完整解答",
    known="这道题我已掌握",
    no_match="没有符合的题目。",
    built_with="由 studykit 生成。",
    booklet_kicker="studykit · 完整解答",
    booklet_subtitle="{count} 道题的完整解答，附要点、公式和代码。",
    licence="许可：",
    source="来源：",
    sheet_subtitle="速查表：{count} 道题的要点",
    full_credit="完整出处见标题页",
    card_key_points="要点",
    key_formulas="关键公式",
    continued="……其余见 Anki 牌组",
    cards_fronts="抽认卡，第 {sheet} 张（共 {sheets} 张），正面（双面打印，沿长边翻转）",
    cards_backs="抽认卡，第 {sheet} 张（共 {sheets} 张），背面",
    new_note_body=(
        "## 要点\n\n"
        "- 20 到 40 秒能说完的回答，分成三到六条。\n\n"
        "## 完整解答\n\n"
        "完整的解释：为什么、怎么做，公式（如 $a = b$）、代码和表格。\n"
    ),
    css_page_of='"第 " counter(page) " 页，共 " counter(pages) " 页"',
    css_question='"第 " string(number) " 题"',
    css_contents='"目录"',
    css_sheet_header='"studykit 速查表"',
)

TRADITIONAL_CHINESE = replace(
    SIMPLIFIED_CHINESE,
    language="zh-Hant",
    skip_to_questions="跳到題目",
    page_lead="共 {count} 道題，每題有可以口述的要點和完整解答。",
    contents="目錄",
    all_questions="全部 {count} 道題",
    filter_questions="篩選題目",
    search="搜尋",
    search_placeholder="搜尋題目和解答",
    topics="主題",
    quiz_mode="自測模式",
    reveal_all="全部顯示",
    hide_all="全部隱藏",
    hide_known="隱藏已掌握",
    showing="顯示 {shown} / {total} 道題。",
    hide_answer="隱藏解答",
    show_answer="顯示解答",
    key_points="要點",
    full_answer="完整解答",
    known="這道題我已掌握",
    no_match="沒有符合的題目。",
    built_with="由 studykit 產生。",
    booklet_kicker="studykit · 完整解答",
    booklet_subtitle="{count} 道題的完整解答，附要點、公式和程式碼。",
    licence="授權：",
    source="來源：",
    sheet_subtitle="速查表：{count} 道題的要點",
    full_credit="完整出處見標題頁",
    card_key_points="要點",
    key_formulas="關鍵公式",
    continued="……其餘見 Anki 牌組",
    cards_fronts="抽認卡，第 {sheet} 張（共 {sheets} 張），正面（雙面列印，沿長邊翻轉）",
    cards_backs="抽認卡，第 {sheet} 張（共 {sheets} 張），背面",
    new_note_body=(
        "## 要點\n\n"
        "- 20 到 40 秒能說完的回答，分成三到六條。\n\n"
        "## 完整解答\n\n"
        "完整的解釋：為什麼、怎麼做，公式（如 $a = b$）、程式碼和表格。\n"
    ),
    css_page_of='"第 " counter(page) " 頁，共 " counter(pages) " 頁"',
    css_question='"第 " string(number) " 題"',
    css_contents='"目錄"',
    css_sheet_header='"studykit 速查表"',
)


def for_language(language: str) -> Messages:
    """The words for a deck in `language` (a BCP 47 tag): its own where studykit has them, else English."""
    region = fonts.cjk_language(language)
    if region == "zh-Hans":
        return SIMPLIFIED_CHINESE
    if region in ("zh-Hant", "zh-HK"):
        return TRADITIONAL_CHINESE
    return ENGLISH


def for_tag(tag: object) -> Messages:
    """The words for a `language` as deck.yaml writes it: English when it is not a tag studykit reads (the reader
    reports that; `init`, `new` and a default footer go on in English)."""
    if not isinstance(tag, str) or language.problem(tag):
        return ENGLISH
    return for_language(language.canonical(tag))


def print_css_rules(name: str, text: Messages) -> str:
    """Rules that set a printed stylesheet's page headers and footers in `text`'s words ("" for English).

    Added after the stylesheet `name` (booklet.css, cheatsheet.css): an @page rule's margin box declared again
    takes the later `content`, and only `content` is declared, so the boxes keep their fonts and places.
    """
    rules = []
    # Only the stylesheets that number their pages (the flashcards' do not: a sheet names itself in its footer).
    if text.css_page_of is not None and name in ("booklet.css", "cheatsheet.css"):
        rules.append(f"@page {{ @bottom-right {{ content: {text.css_page_of}; }} }}")
    if name == "booklet.css":
        if text.css_question is not None:
            rules.append(f"@page {{ @top-right {{ content: {text.css_question}; }} }}")
        if text.css_contents is not None:
            rules.append(f"@page contents {{ @top-right {{ content: {text.css_contents}; }} }}")
    if name == "cheatsheet.css" and text.css_sheet_header is not None:
        rules.append(f"@page {{ @top-right {{ content: {text.css_sheet_header}; }} }}")
    return "".join(f"{rule}\n" for rule in rules)
