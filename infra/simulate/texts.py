"""The Chinese texts that simulated records carry: materials, reasons, opinions, comments,
replies, complaints, supervision notes and inspectors.

Free-text fields (docs/contracts.md §2) are drawn from these pools, worded as a hall
would word them, so the demo reads like a real feed. The generator draws from the
tuples by position: reordering or editing an entry changes every output that uses it.
"""

from __future__ import annotations

from domain.vocabulary import Outcome, Procedure

# fmt: off
#: Materials a correction notice (一次性补正告知) asks for: one to three of these.
MATERIALS = (
    "申请表（需申请人签字或盖章）", "营业执照副本复印件", "法定代表人身份证明", "授权委托书",
    "经营场所产权证明或租赁合同", "场所平面布局图", "从业人员健康证明", "消防安全检查合格证明",
    "户口簿原件及复印件", "近期免冠彩色照片", "专业技术人员资格证书", "设备清单及检验报告",
    "规章制度文本", "环境影响评价文件", "有效身份证件原件", "医学诊断证明",
)

#: Why an application is not accepted (不予受理).
REJECT_REASONS = (
    "申请事项依法不属于本部门职权范围，已告知申请人向有关行政机关申请",
    "申请人不具备法定申请资格",
    "申请事项依法不需要取得行政许可",
    "同一事项已在办理中，不予重复受理",
)
#: Why a licence is denied (不予许可): a step's opinion and the conclusion's reason.
DENY_REASONS = (
    "经现场核查，经营场所不符合许可条件",
    "申请材料与实际情况不符，不符合法定条件",
    "专家评审未通过，不符合相关技术规范",
    "申请人提供的证明材料存在虚假内容",
)
#: Why the time limit is extended (延期).
EXTEND_REASONS = (
    "情况复杂，需进一步核实申请材料，经本机关负责人批准延长期限",
    "涉及多个部门会商，经批准延期办理",
    "现场核查发现需补充论证事项，经批准延长办理期限",
)
#: The fixed reason of the other conclusions.
OUTCOME_REASONS = {
    Outcome.WITHDRAWN.value: "申请人主动申请撤回",
    Outcome.TERMINATED.value: "申请人主体资格依法终止，终止办理",
    Outcome.TRANSFERRED.value: "依法转报上级行政机关审批",
}
#: Why a special procedure stops the clock (特别程序).
PROCEDURE_REASONS = {
    Procedure.HEARING.value: "申请事项涉及他人重大利益，依法组织听证",
    Procedure.TENDER.value: "土地使用权依法需通过招标方式确定",
    Procedure.AUCTION.value: "依法需通过拍卖方式确定",
    Procedure.TESTING.value: "需委托第三方机构进行检验检测",
    Procedure.QUARANTINE.value: "需对动物及动物产品进行检疫",
    Procedure.APPRAISAL.value: "需委托专业机构进行技术鉴定",
    Procedure.EXPERT_REVIEW.value: "技术方案复杂，需组织专家评审",
}

#: A passed step's opinion, when the handler writes one.
STEP_OPINIONS = ("同意", "材料齐全，符合法定条件", "核查属实")
#: A returned attempt's opinion (退回).
RETURN_OPINION = "材料需补充说明，退回重新审查"

#: Comments of a rating (好差评), per level.
RATING_COMMENTS = {
    5: ("办事效率高，工作人员态度很好", "网上办理很方便，一次都不用跑", "非常满意"),
    4: ("整体顺利，等候时间稍长", "服务不错"),
    3: ("基本满意，希望流程再简化", "材料要求说明不够清楚"),
    2: ("办理时间太长，进度查询不到", "工作人员解释不清楚，多跑了一趟"),
    1: ("多次往返窗口仍未办好", "超过承诺时限没有任何通知"),
}
#: Answers to a rating: the first two for bad reviews (差评整改), the last for others.
RATING_REPLIES = (
    "已核实情况，向申请人致歉并说明办理进度，已督促经办人限期办结",
    "已对窗口人员进行批评教育，优化一次性告知内容",
    "感谢您的评价，我们将持续改进服务",
)

#: What complaints (投诉) say, and how they are answered or turned down.
COMPLAINTS = (
    "办件已超过承诺时限仍未办结，窗口未说明原因",
    "窗口工作人员服务态度差，解释不耐烦",
    "网上申报系统多次提交失败，只能跑现场",
    "补正材料要求前后不一致，来回跑了三趟",
    "办理进度长时间不更新，电话咨询无人接听",
)
COMPLAINT_REPLIES = (
    "经核查情况属实，已责令经办人整改并向投诉人致歉，办件已加快办理",
    "经核查，办件处于特别程序期间，已向投诉人说明情况",
    "已对相关工作人员进行批评教育，并完善首问负责制度",
)
COMPLAINT_REJECTS = (
    "投诉事项不属于本平台受理范围，已告知投诉人向有权机关反映",
    "重复投诉，已按原答复意见处理",
)

#: Supervision orders (督办单): the first note is about one case, the others about a
#: department; the replies; and the inspectors who issue them.
SUPERVISION_NOTES = (
    "该办件已超承诺时限，请于期限内办结并书面反馈超时原因",
    "近期该部门超时办件较多，请逐件核查并反馈整改措施",
    "群众反映办理进度缓慢，请核实并限期反馈",
)
SUPERVISION_REPLIES = (
    "已督促经办人加快办理，并对超时原因作出书面说明",
    "已逐件核查超时办件，制定整改措施并落实到人",
)
INSPECTORS = ("市监察局 陈志强", "市监察局 林晓燕", "市纪委监委 何建华", "效能办 梁嘉文")
# fmt: on
