import type { Seeder } from '../../infra/db/seed.js';
import { uuidv7 } from '../../infra/ids.js';
import { CONTENT_NOTE } from './content.reading.js';
import {
  type AudienceRules,
  type ContentTier,
  type ContentType,
  contentItems,
  contentVersions,
} from './content.tables.js';

interface StarterItem {
  slug: string;
  type: ContentType;
  tier: ContentTier;
  title: string;
  summary: string;
  body: string;
  tags: string[];
  audience: AudienceRules;
  source: { name: string; url: string };
}

const WHO_STRATEGY = {
  name: 'WHO: Global strategy to accelerate the elimination of cervical cancer as a public health problem (2020)',
  url: 'https://www.who.int/publications/i/item/9789240014107',
};
const WHO_HPV_VACCINES = {
  name: 'WHO: Human papillomavirus vaccines, WHO position paper (December 2022)',
  url: 'https://www.who.int/publications/i/item/who-wer9750-645-672',
};
const WHO_SCREENING = {
  name: 'WHO guideline for screening and treatment of cervical pre-cancer lesions for cervical cancer prevention, 2nd edition (2021)',
  url: 'https://www.who.int/publications/i/item/9789240030824',
};
const WHO_CERVICAL_FACTS = {
  name: 'WHO fact sheet: Cervical cancer',
  url: 'https://www.who.int/news-room/fact-sheets/detail/cervical-cancer',
};
const WHO_HEALTHY_DIET = {
  name: 'WHO fact sheet: Healthy diet',
  url: 'https://www.who.int/news-room/fact-sheets/detail/healthy-diet',
};
const WHO_ACTIVITY = {
  name: 'WHO fact sheet: Physical activity',
  url: 'https://www.who.int/news-room/fact-sheets/detail/physical-activity',
};
const NHS_SCREENING = {
  name: "NHS: When you'll be invited for cervical screening",
  url: 'https://www.nhs.uk/conditions/cervical-screening/when-youll-be-invited/',
};
const NHS_HPV = { name: 'NHS: HPV', url: 'https://www.nhs.uk/conditions/human-papilloma-virus-hpv/' };
const NHS_FOLATE = {
  name: 'NHS: Vitamin B (folate and folic acid)',
  url: 'https://www.nhs.uk/conditions/vitamins-and-minerals/vitamin-b/',
};
const NHS_VEGAN = {
  name: 'NHS: The vegan diet',
  url: 'https://www.nhs.uk/live-well/eat-well/how-to-eat-a-balanced-diet/the-vegan-diet/',
};
const NHS_VEGETARIAN = {
  name: 'NHS: The vegetarian diet',
  url: 'https://www.nhs.uk/live-well/eat-well/how-to-eat-a-balanced-diet/the-vegetarian-diet/',
};
const CDC_ACIP_ADULTS = {
  name: 'CDC MMWR: Human Papillomavirus Vaccination for Adults, updated ACIP recommendations (2019)',
  url: 'https://www.cdc.gov/mmwr/volumes/68/wr/mm6832a3.htm',
};

const withNote = (body: string) => `${body.trim()}\n\n*${CONTENT_NOTE}*\n`;

/**
 * Starter content, in English, each item naming the public page it is drawn from. Diet and
 * protection blocks carry audience rules: personal plans are composed by matching them
 * against a profile's age, diet, activity level and country.
 */
export const STARTER_CONTENT: StarterItem[] = [
  {
    slug: 'who-cervical-cancer-elimination-targets',
    type: 'article',
    tier: 'free',
    title: 'Cervical cancer can be eliminated: the WHO 90-70-90 targets',
    summary:
      'WHO has a plan to make cervical cancer rare everywhere. Three targets for 2030 cover vaccination, screening and treatment.',
    tags: ['cervical-cancer', 'prevention', 'vaccination', 'screening'],
    audience: {},
    source: WHO_STRATEGY,
    body: `
In 2020 the World Health Organization (WHO) launched a global strategy to eliminate cervical cancer as a public health problem: fewer than 4 new cases a year for every 100 000 women. To get there, every country is asked to reach three targets by 2030.

## 90 – vaccinate

**90%** of girls fully vaccinated against human papillomavirus (HPV) by the age of 15. HPV causes nearly all cervical cancers, and the vaccine works best before any exposure to the virus.

## 70 – screen

**70%** of women screened with a high-performance test (such as an HPV test) by the age of 35, and again by the age of 45. Screening finds changes in the cervix years before they could become cancer.

## 90 – treat

**90%** of women identified with cervical disease receive treatment: 90% of women with pre-cancer treated, and 90% of women with invasive cancer managed.

## What it means for you

- If you are eligible for the HPV vaccine and have not had it, ask about it.
- Go for screening when you are invited, even if you were vaccinated.
- If a result asks you to come back or have another test, follow it up: pre-cancer is very treatable.
`,
  },
  {
    slug: 'hpv-vaccination-who-recommendations',
    type: 'article',
    tier: 'free',
    title: 'HPV vaccination: who it is for and how many doses',
    summary:
      'WHO recommends HPV vaccination for girls aged 9 to 14 before they become sexually active; one or two doses are enough for most young people.',
    tags: ['hpv', 'vaccination', 'prevention'],
    audience: {},
    source: WHO_HPV_VACCINES,
    body: `
HPV vaccines protect against the types of human papillomavirus that cause most cervical cancers. They prevent infection; they do not treat an infection you already have, which is why they work best when given early.

## Who WHO puts first

The primary target is **girls aged 9 to 14**, before they become sexually active. Vaccinating older girls and young women, and boys, is recommended where it is feasible and affordable, once the primary target is covered.

## How many doses (WHO, 2022)

- **9 to 14 years:** one or two doses.
- **15 to 20 years:** one or two doses.
- **21 and older:** two doses, six months apart.
- People whose immune system is weakened, including people living with HIV, should have at least two doses, and three where possible.

National programmes set their own schedules, so the number of doses you are offered may differ.

## Good to know

- The vaccine does not protect against every cancer-causing HPV type: vaccinated women should still go for cervical screening.
- WHO's vaccine safety experts have repeatedly found HPV vaccines to be very safe.
`,
  },
  {
    slug: 'cervical-screening-explained',
    type: 'article',
    tier: 'premium',
    title: 'Cervical screening explained: what the test looks for and what happens next',
    summary:
      'What an HPV screening test is, why most positive results are not cancer, and the usual next steps after a result.',
    tags: ['screening', 'hpv', 'results'],
    audience: {},
    source: WHO_SCREENING,
    body: `
Cervical screening is not a test for cancer. It looks for signs that cancer *could* develop years from now, so that they can be dealt with early.

## The test

WHO recommends **HPV DNA testing** as the main screening test, because it finds more pre-cancer than looking at cells alone (cytology). A small sample is taken from the cervix by a nurse or doctor; in some programmes you can take a vaginal sample yourself with a kit, which WHO also supports.

## If no HPV is found

Your risk of cervical cancer over the next several years is very low, so you can safely wait until your next routine invitation.

## If HPV is found

HPV is very common and most infections clear on their own within a year or two. A positive result usually leads to one of these, depending on the programme:

- a look at the cells in the same sample (triage), or
- a repeat test after about a year to see whether the virus has cleared, or
- a closer look at the cervix (colposcopy).

## Treatment of pre-cancer

If pre-cancerous changes are found, they can usually be removed or destroyed in a short outpatient procedure (for example ablation or excision), which is highly effective at preventing cancer.

## When not to wait

Screening is for people without symptoms. Bleeding between periods, after sex or after the menopause, or unusual discharge, is a reason to see a health professional now.
`,
  },
  {
    slug: 'tip-quit-smoking',
    type: 'tip',
    tier: 'free',
    title: 'Quitting smoking lowers your risk',
    summary:
      'Tobacco use is one of the factors that make it more likely that an HPV infection leads to cervical cancer.',
    tags: ['smoking', 'habits', 'prevention'],
    audience: {},
    source: WHO_CERVICAL_FACTS,
    body: `
WHO lists **tobacco use** among the co-factors that raise the chance that a persistent HPV infection turns into cervical cancer. Smoking also weakens the immune system that normally clears HPV.

- Set a quit date and tell people around you.
- Ask about free stop-smoking services and medicines: combining support with treatment gives you the best chance of success.
- If you slip, it is not a failure: most people need more than one attempt.
`,
  },
  {
    slug: 'tip-condoms-and-hpv',
    type: 'tip',
    tier: 'free',
    title: 'Condoms reduce the risk of HPV, but do not remove it',
    summary:
      'Condoms lower the chance of passing on HPV and protect against other infections; vaccination and screening still matter.',
    tags: ['hpv', 'sexual-health', 'prevention'],
    audience: {},
    source: NHS_HPV,
    body: `
HPV spreads through skin-to-skin contact of the genital area, not only through sex itself. Condoms help protect you from HPV, but they do not cover all the skin around the genitals, so they cannot protect you fully.

- Use condoms to lower the risk of HPV and to protect against other sexually transmitted infections.
- Vaccination gives the strongest protection against the HPV types that cause most cervical cancers.
- Keep going for cervical screening when you are invited.
`,
  },
  {
    slug: 'tip-book-your-screening',
    type: 'tip',
    tier: 'free',
    title: 'Book your screening as soon as your invitation arrives',
    summary: 'A few minutes every few years is one of the most effective things you can do to prevent cervical cancer.',
    tags: ['screening', 'habits'],
    audience: {},
    source: WHO_STRATEGY,
    body: `
WHO's elimination strategy aims for most women to be screened with a high-performance test by 35 and again by 45, because screening finds changes long before they could become cancer.

- Put your screening date in your calendar when your invitation arrives.
- If you missed one, you usually do not have to wait for the next letter: ask to book.
- If a previous test was uncomfortable, say so: a smaller speculum, a different position or a self-sample kit (where offered) can help.
`,
  },
  {
    slug: 'diet-fruit-and-vegetables-400g',
    type: 'diet_block',
    tier: 'free',
    title: 'At least 400 g of fruit and vegetables a day',
    summary:
      'WHO recommends at least five portions (400 g) of fruit and vegetables every day, not counting potatoes and other starchy roots.',
    tags: ['diet', 'fruit', 'vegetables'],
    audience: {},
    source: WHO_HEALTHY_DIET,
    body: `
A healthy diet, says WHO, includes **at least 400 g (five portions) of fruit and vegetables a day**. Potatoes, sweet potatoes, cassava and other starchy roots do not count towards it.

- Add vegetables to every main meal and a piece of fruit to breakfast.
- Eat a variety of colours across the week.
- Frozen, tinned (in water or juice) and dried options count too.

WHO also advises keeping free sugars below 10% of your energy intake and eating less than 5 g of salt (about a teaspoon) a day.
`,
  },
  {
    slug: 'diet-folate-rich-foods',
    type: 'diet_block',
    tier: 'free',
    title: 'Folate-rich foods every day',
    summary:
      'Adults need 200 micrograms of folate a day; leafy greens, legumes and fortified cereals are easy sources.',
    tags: ['diet', 'folate', 'vitamins'],
    audience: {},
    source: NHS_FOLATE,
    body: `
Folate (vitamin B9) helps the body make healthy cells. Adults need **200 micrograms a day**, and because the body cannot store it for long, it needs to be eaten regularly.

Good sources:

- broccoli and Brussels sprouts
- leafy greens such as cabbage, kale, spring greens and spinach
- peas, chickpeas and kidney beans
- breakfast cereals fortified with folic acid

If you could get pregnant, the NHS advises a daily 400 microgram folic acid supplement from before conception until 12 weeks of pregnancy.
`,
  },
  {
    slug: 'diet-vegan-key-nutrients',
    type: 'diet_block',
    tier: 'free',
    title: 'Eating vegan: B12, iodine, calcium, iron and vitamin D',
    summary: 'A well-planned vegan diet can be healthy; a few nutrients need attention.',
    tags: ['diet', 'vegan', 'vitamins'],
    audience: { diets: ['vegan'] },
    source: NHS_VEGAN,
    body: `
A varied vegan diet with plenty of fruit, vegetables, wholegrains and pulses can give you most of what you need. Plan for these:

- **Vitamin B12:** fortified breakfast cereals, unsweetened fortified soya drinks and yeast extract with added B12; many vegans need a supplement.
- **Calcium:** fortified unsweetened plant drinks, calcium-set tofu, sesame seeds and tahini, pulses.
- **Iron:** pulses, wholemeal bread and flour, fortified cereals, dark green leafy vegetables, dried fruit. Vitamin C in the same meal helps absorption.
- **Iodine:** hard to get from plants; consider a supplement (seaweed varies too much to rely on).
- **Omega-3:** ground linseed, chia seeds, walnuts, soya foods and rapeseed oil.
- **Vitamin D:** consider a daily 10 microgram supplement in autumn and winter.
`,
  },
  {
    slug: 'diet-vegetarian-iron-and-b12',
    type: 'diet_block',
    tier: 'free',
    title: 'Eating vegetarian: iron and vitamin B12',
    summary: 'Without meat and fish, plan your iron and B12 sources; dairy and eggs help.',
    tags: ['diet', 'vegetarian', 'vitamins'],
    audience: { diets: ['vegetarian'] },
    source: NHS_VEGETARIAN,
    body: `
A vegetarian diet can give you everything you need if it is varied.

- **Iron:** pulses, dark green vegetables such as watercress, broccoli and spring greens, wholemeal bread, fortified breakfast cereals and dried fruit. Have vitamin C (fruit, vegetables) with iron-rich meals to absorb more.
- **Vitamin B12:** milk, cheese and eggs, and fortified breakfast cereals.
- **Protein:** beans, lentils, tofu, eggs, dairy, nuts and seeds across the day.
- Watch the cheese: it is a good source of protein and calcium but high in saturated fat and salt.
`,
  },
  {
    slug: 'diet-folate-week-meal-plan',
    type: 'diet_block',
    tier: 'premium',
    title: 'A week of meals with five-a-day and folate built in',
    summary:
      'Seven days of simple meals that reach 400 g of fruit and vegetables and include a folate-rich food every day.',
    tags: ['diet', 'meal-plan', 'folate', 'fruit', 'vegetables'],
    audience: {},
    source: WHO_HEALTHY_DIET,
    body: `
Each day below reaches at least five portions of fruit and vegetables (WHO: at least 400 g a day) and includes a folate-rich food.

| Day | Breakfast | Lunch | Dinner |
| --- | --- | --- | --- |
| Mon | Fortified cereal, banana | Chickpea and spinach salad | Vegetable stir-fry with broccoli |
| Tue | Porridge with berries | Lentil soup, apple | Bean chilli with peppers, side salad |
| Wed | Wholegrain toast, tomatoes | Pea and mint soup, pear | Baked fish or tofu, Brussels sprouts, carrots |
| Thu | Yoghurt with kiwi | Kale and bean wrap | Vegetable curry with chickpeas |
| Fri | Fortified cereal, orange | Mixed-leaf salad with eggs or beans | Wholewheat pasta with spinach and tomato sauce |
| Sat | Spinach omelette or tofu scramble | Vegetable soup, grapes | Kidney bean and vegetable stew |
| Sun | Porridge with dried apricots | Roasted vegetable salad | Roast with cabbage, peas and carrots |

Swap in what you like and what is in season; frozen vegetables are just as good.
`,
  },
  {
    slug: 'screening-nhs-25-to-49',
    type: 'protection_block',
    tier: 'free',
    title: 'Cervical screening from 25 to 49 (NHS)',
    summary:
      'In England you are first invited just before 25; from 25 to 49 an HPV-negative result means your next invitation comes in 5 years.',
    tags: ['screening', 'nhs'],
    audience: { min_age: 25, max_age: 49, countries: ['GB'] },
    source: NHS_SCREENING,
    body: `
Women and people with a cervix aged 25 to 64 who are registered with a GP are invited for cervical screening. Your first invitation comes up to 6 months before you turn 25.

- **25 to 49:** invited every 3 years. Since 1 July 2025 in England, if your test finds no HPV you are next invited in **5 years** instead (Scotland and Wales already work this way).
- If HPV is found, you may be invited sooner to check that it has cleared.
- You can book as soon as your letter arrives; if you missed one, you can book without waiting for a new letter.

Do not wait for screening if you have symptoms such as bleeding between periods, after sex or after the menopause: see a GP.
`,
  },
  {
    slug: 'screening-nhs-50-to-64',
    type: 'protection_block',
    tier: 'free',
    title: 'Cervical screening from 50 to 64 (NHS)',
    summary: 'From 50 to 64 you are invited every 5 years; after 65 only if a recent test was abnormal.',
    tags: ['screening', 'nhs'],
    audience: { min_age: 50, max_age: 64, countries: ['GB'] },
    source: NHS_SCREENING,
    body: `
- **50 to 64:** invited for cervical screening every 5 years.
- **65 or older:** you usually stop being invited, unless a recent test was abnormal. If you have never been screened, or not since you were 50, you can ask your GP for a test.
- Going through the menopause does not remove the need for screening.

Bleeding after the menopause is never something to wait on: see a GP.
`,
  },
  {
    slug: 'screening-who-hpv-test-from-30',
    type: 'protection_block',
    tier: 'free',
    title: 'HPV screening from 30, every 5 to 10 years (WHO)',
    summary: 'WHO recommends screening with an HPV DNA test from age 30, repeated every 5 to 10 years.',
    tags: ['screening', 'hpv', 'who'],
    audience: { min_age: 30 },
    source: WHO_SCREENING,
    body: `
For the general population of women, WHO recommends:

- **HPV DNA testing** as the primary screening test, rather than looking at cells alone;
- starting at **age 30**;
- repeating it every **5 to 10 years**.

For women living with HIV, WHO suggests starting at 25 and screening every 3 to 5 years.

Your country's programme may use different ages and intervals: follow the invitations you receive, and ask your health service if you are not sure when you are due.
`,
  },
  {
    slug: 'vaccination-hpv-catch-up',
    type: 'protection_block',
    tier: 'free',
    title: 'Missed the HPV vaccine? Ask about catching up',
    summary: 'Many programmes still offer the HPV vaccine to young adults who missed it at school.',
    tags: ['hpv', 'vaccination'],
    audience: { max_age: 26 },
    source: WHO_HPV_VACCINES,
    body: `
The HPV vaccine works best before any exposure to the virus, but it still protects against the HPV types you have not met yet.

- WHO's schedule: one or two doses up to age 20; two doses six months apart from 21.
- Many national programmes offer catch-up vaccination to young adults who missed it (for example, in the UK up to your 25th birthday, and in the US routinely through age 26).
- Ask your GP, clinic or school nurse whether you are eligible.

Being vaccinated does not replace screening: go when you are invited.
`,
  },
  {
    slug: 'vaccination-hpv-adults-27-to-45-us',
    type: 'protection_block',
    tier: 'free',
    title: 'HPV vaccine at 27 to 45: a decision to make with your clinician (US)',
    summary:
      'In the US, HPV vaccination is not routine after 26, but some adults up to 45 may benefit after talking it through.',
    tags: ['hpv', 'vaccination'],
    audience: { min_age: 27, max_age: 45, countries: ['US'] },
    source: CDC_ACIP_ADULTS,
    body: `
The US Advisory Committee on Immunization Practices (ACIP) does not recommend catch-up HPV vaccination for all adults older than 26. Instead, it recommends **shared clinical decision-making** for some adults aged 27 through 45 who are not adequately vaccinated.

The benefit is smaller at these ages because many people have already been exposed to the HPV types the vaccine covers. Talk with your clinician about whether it makes sense for you.

Whatever you decide, keep up with cervical screening.
`,
  },
  {
    slug: 'habit-smoke-free',
    type: 'protection_block',
    tier: 'free',
    title: 'Stay smoke-free',
    summary: 'Not smoking, or stopping, removes one of the co-factors for cervical cancer.',
    tags: ['smoking', 'habits'],
    audience: {},
    source: WHO_CERVICAL_FACTS,
    body: `
Tobacco use is one of the factors WHO lists as raising the chance that a persistent HPV infection develops into cervical cancer.

- If you smoke, ask about free stop-smoking support and medicines.
- If you have stopped, keep going: the benefits keep growing the longer you are smoke-free.
- Avoid second-hand smoke at home and in the car.
`,
  },
  {
    slug: 'habit-move-150-minutes',
    type: 'protection_block',
    tier: 'free',
    title: 'Work up to 150 minutes of activity a week',
    summary:
      'WHO recommends at least 150 to 300 minutes of moderate activity a week; any movement is better than none.',
    tags: ['activity', 'habits'],
    audience: { activity_levels: ['sedentary', 'light'] },
    source: WHO_ACTIVITY,
    body: `
WHO recommends that adults do **at least 150 to 300 minutes of moderate-intensity activity a week** (or 75 to 150 minutes of vigorous activity), and muscle-strengthening activities on 2 or more days.

If you are starting from little activity:

- Start small: a 10-minute brisk walk a day is a real beginning. Doing some is better than doing none.
- Add 5 minutes every week or two.
- Break up long periods of sitting.
- Pick things you enjoy: walking, cycling, dancing, swimming, gardening.
`,
  },
  {
    slug: 'habit-activity-strength-and-variety',
    type: 'protection_block',
    tier: 'free',
    title: 'Already active? Add strength and keep it up',
    summary: 'Keep to 150 to 300 minutes a week and add muscle-strengthening on at least two days.',
    tags: ['activity', 'habits', 'strength'],
    audience: { activity_levels: ['moderate', 'active'] },
    source: WHO_ACTIVITY,
    body: `
You are already moving. To get the most from it, WHO recommends:

- **150 to 300 minutes** of moderate activity, or **75 to 150 minutes** of vigorous activity, or a mix, every week;
- **muscle-strengthening** activities that work all major muscle groups on **2 or more days** a week;
- limiting long stretches of sitting.

Going beyond 300 minutes of moderate activity a week brings additional health benefits.
`,
  },
  {
    slug: 'habit-eight-week-walking-plan',
    type: 'protection_block',
    tier: 'premium',
    title: 'An eight-week plan from sitting to 150 minutes',
    summary: 'A gradual walking plan that takes you to the WHO minimum of 150 minutes of moderate activity a week.',
    tags: ['activity', 'habits', 'plan'],
    audience: { activity_levels: ['sedentary', 'light'] },
    source: WHO_ACTIVITY,
    body: `
Brisk walking (you can talk but not sing) counts as moderate activity. Build up week by week:

| Week | Plan | Minutes a week |
| --- | --- | --- |
| 1 | 10 minutes, 5 days | 50 |
| 2 | 12 minutes, 5 days | 60 |
| 3 | 15 minutes, 5 days | 75 |
| 4 | 20 minutes, 5 days | 100 |
| 5 | 20 minutes, 5 days, plus one 10-minute strength session | 100 + strength |
| 6 | 25 minutes, 5 days, plus two strength sessions | 125 + strength |
| 7 | 30 minutes, 5 days, plus two strength sessions | 150 + strength |
| 8 | keep 150 minutes; try a hill, a bike ride or a dance class | 150+ |

Strength sessions can be simple: sit-to-stands from a chair, wall press-ups, carrying shopping bags. If a week felt hard, repeat it.
`,
  },
];

export const contentSeeder: Seeder = {
  name: 'content: starter articles, tips and plan blocks from WHO and NHS guidance',
  // Two statements for all of it, not two per item: on the embedded database each statement
  // costs a first start several milliseconds.
  async run(db) {
    const now = new Date();
    const created = await db
      .insert(contentItems)
      .values(
        STARTER_CONTENT.map((item) => ({
          id: uuidv7(),
          slug: item.slug,
          type: item.type,
          status: 'published' as const,
          currentVersion: 1,
          publishedVersion: 1,
          publishAt: now,
          createdBy: null,
          createdAt: now,
          updatedAt: now,
        })),
      )
      .onConflictDoNothing({ target: contentItems.slug })
      .returning({ id: contentItems.id, slug: contentItems.slug });
    // An item already there (seeded before, or written by an admin) is left as it is.
    const idOf = new Map(created.map((row) => [row.slug, row.id]));
    const versions = STARTER_CONTENT.flatMap((item) => {
      const contentId = idOf.get(item.slug);
      if (!contentId) return [];
      return [
        {
          id: uuidv7(),
          contentId,
          version: 1,
          title: item.title,
          summary: item.summary,
          body: withNote(item.body),
          locale: 'en',
          tags: item.tags,
          audience: item.audience,
          tier: item.tier,
          sourceName: item.source.name,
          sourceUrl: item.source.url,
          editedBy: null,
          createdAt: now,
        },
      ];
    });
    if (versions.length > 0) await db.insert(contentVersions).values(versions);
  },
};
