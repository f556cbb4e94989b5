// Not a step: a helper the triage step imports (any file under src/ that is not
// a *.step.* or *.stream.* file is left alone).
const URGENT = ['down', 'outage', 'cannot log in', 'data loss', 'refund']
const LOW = ['question', 'feature', 'typo', 'how do i']

export type Priority = 'low' | 'normal' | 'urgent'

export const priorityOf = (text: string): Priority => {
  const lower = text.toLowerCase()
  if (URGENT.some((word) => lower.includes(word))) return 'urgent'
  if (LOW.some((word) => lower.includes(word))) return 'low'
  return 'normal'
}
