-- Task search documents kept in lower case (like the workflow documents since migration 14):
-- free text matches them with LIKE against the text in lower case, the same hits as ILIKE,
-- which folds both sides with lower() for every candidate the trigram index returns (about
-- three times the cost of LIKE per document). pg_trgm's trigrams are case-folded already,
-- so the index keeps its entries.
UPDATE task_texts SET search_text = lower(search_text)
 WHERE search_text <> lower(search_text);
